#!/usr/bin/perl
# Writes two small MaxMind DB files in GeoLite2's layouts for the enrichment tests (no GeoLite2
# file may be shipped or fetched here): an ASN one and a Country one.
#   make_mmdb.pl ASN.mmdb COUNTRY.mmdb
use strict;
use warnings;
use MaxMind::DB::Writer::Tree;

my %types = (
  autonomous_system_number       => 'uint32',
  autonomous_system_organization => 'utf8_string',
  country                        => 'map',
  iso_code                       => 'utf8_string',
);

sub write_tree {
  my ($path, $type, $networks) = @_;
  my $tree = MaxMind::DB::Writer::Tree->new(
    ip_version            => 6,
    record_size           => 24,
    remove_reserved_networks => 0,  # the test data uses documentation prefixes
    database_type         => $type,
    languages             => ['en'],
    description           => { en => 'dnsleak test data' },
    map_key_type_callback => sub { $types{ $_[0] } },
  );
  $tree->insert_network($_->[0], $_->[1]) for @$networks;
  open my $fh, '>:raw', $path or die "cannot write $path: $!";
  $tree->write_tree($fh);
  close $fh;
}

write_tree($ARGV[0], 'GeoLite2-ASN', [
  ['198.51.100.0/24', { autonomous_system_number => 64496, autonomous_system_organization => 'Example MMDB Org' }],
  ['2001:db8:1::/48', { autonomous_system_number => 64497, autonomous_system_organization => 'Example MMDB Org 6' }],
]);
write_tree($ARGV[1], 'GeoLite2-Country', [
  ['198.51.100.0/24', { country => { iso_code => 'NZ' } }],
]);
