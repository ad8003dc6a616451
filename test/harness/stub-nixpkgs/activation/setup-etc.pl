#!/usr/bin/perl
# /etc at activation, as NixOS's setup-etc.pl does it: /etc/static becomes the new system's etc,
# every entry becomes a symlink into /etc/static, except entries with a mode (NAME.mode beside
# them), which are copied with that mode and owner (NAME.uid, NAME.gid: "+N" is numeric) and
# listed in /etc/.clean; entries the previous system had and this one has not are removed.
# Usage: setup-etc.pl ETC   (the toplevel's etc directory)
use strict;
use warnings;
use File::Find;
use File::Path qw(make_path);
use File::Copy qw(copy);

my $etc = $ARGV[0] // die "usage: $0 ETC\n";
sub slurp { my ($f) = @_; open(my $fh, "<", $f) or return undef; local $/; my $s = <$fh>; close $fh; return $s; }
sub lines { my ($f) = @_; my $s = slurp($f) // ""; return grep { $_ ne "" } split /\n/, $s; }
sub spew { my ($f, $s) = @_; open(my $fh, ">", "$f.tmp") or die "cannot write $f: $!\n"; print $fh $s; close $fh; rename("$f.tmp", $f) or die "$!\n"; }
sub id { my ($v, $lookup) = @_; return $v =~ /^\+(\d+)$/ ? $1 : ($lookup->($v) // 0); }

symlink($etc, "/etc/.static.tmp") or die "cannot link /etc/static: $!\n";
rename("/etc/.static.tmp", "/etc/static") or die "cannot replace /etc/static: $!\n";

my @entries;
find({ no_chdir => 1, wanted => sub {
    return if -d $_ && !-l $_;
    my $rel = substr($File::Find::name, length($etc) + 1);
    push @entries, $rel unless $rel =~ /\.(mode|uid|gid)$/;
} }, $etc);
my %new = map { ($_ => 1) } @entries;

# What the previous system put here and this one does not have.
for my $rel (lines("/etc/.sim-managed")) {
    next if $new{$rel};
    unlink("/etc/$rel") if -l "/etc/$rel" || grep { $_ eq $rel } lines("/etc/.clean");
}

my @clean;
for my $rel (sort @entries) {
    my $target = "/etc/$rel";
    (my $dir = $target) =~ s|/[^/]+$||;
    make_path($dir) unless -d $dir;
    if (defined(my $mode = slurp("$etc/$rel.mode"))) {
        copy("$etc/$rel", "$target.tmp") or die "cannot copy $rel: $!\n";
        chown(id(slurp("$etc/$rel.uid"), sub { (getpwnam($_[0]))[2] }), id(slurp("$etc/$rel.gid"), sub { (getgrnam($_[0]))[2] }), "$target.tmp");
        chmod(oct($mode), "$target.tmp");
        unlink($target) if -l $target;
        rename("$target.tmp", $target) or die "cannot place $rel: $!\n";
        push @clean, $rel;
    } else {
        next if -l $target && readlink($target) eq "/etc/static/$rel";
        unlink($target);
        symlink("/etc/static/$rel", $target) or die "cannot link $rel: $!\n";
    }
}
spew("/etc/.clean", join("", map { "$_\n" } @clean));
spew("/etc/.sim-managed", join("", map { "$_\n" } sort @entries));
