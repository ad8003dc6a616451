#!/usr/bin/perl
# Users and groups at activation, with the semantics of NixOS's update-users-groups.pl: declared
# groups and users are created (UIDs from 1000 up for normal users and from 999 down for system
# users, remembered in /var/lib/nixos/uid-map), existing ones keep their IDs, users and groups that
# were declared before (/var/lib/nixos/declarative-*) and are not now are removed, and with
# users.mutableUsers = false every undeclared one is. Homes are made for createHome users.
# /etc/shadow gets "!" (no password) for new accounts, or the declared hash.
# Usage: users-groups.pl USERS-GROUPS.json   (the store path the activation script names)
use strict;
use warnings;
use JSON::PP;
use File::Path qw(make_path);

my $state = "/var/lib/nixos";
make_path($state, { mode => 0755 });

sub slurp { my ($f) = @_; open(my $fh, "<:encoding(UTF-8)", $f) or return undef; local $/; my $s = <$fh>; close $fh; return $s; }
sub spew {
    my ($f, $s, $mode) = @_;
    open(my $fh, ">:encoding(UTF-8)", "$f.tmp") or die "cannot write $f: $!\n";
    print $fh $s; close $fh;
    chmod($mode // 0644, "$f.tmp");
    rename("$f.tmp", $f) or die "cannot replace $f: $!\n";
}
sub readJson { my ($f) = @_; my $s = slurp($f); return defined $s && $s ne "" ? decode_json($s) : {}; }
sub readLines { my ($f) = @_; my $s = slurp($f) // ""; return grep { $_ ne "" } split /\n/, $s; }
sub readWords { my ($f) = @_; my $s = slurp($f) // ""; return map { ($_ => 1) } split / /, $s; }

my $spec = decode_json(slurp($ARGV[0]) // die "cannot read $ARGV[0]\n");
my $json = JSON::PP->new->canonical;
my $uidMap = readJson("$state/uid-map");
my $gidMap = readJson("$state/gid-map");
my %declUsers = readWords("$state/declarative-users");
my %declGroups = readWords("$state/declarative-groups");

# IDs in use: declared ones, current ones, and previously allocated ones (never reused for others).
my (%uidsUsed, %gidsUsed);
$uidsUsed{$_->{uid}} = 1 for grep { defined $_->{uid} } @{$spec->{users}};
$gidsUsed{$_->{gid}} = 1 for grep { defined $_->{gid} } @{$spec->{groups}};
my %uidsPrev = map { ($_ => 1) } values %$uidMap;
my %gidsPrev = map { ($_ => 1) } values %$gidMap;

my %groupsCur;
for (readLines("/etc/group")) {
    my @f = split(':', $_, -4);
    $groupsCur{$f[0]} = { name => $f[0], password => $f[1], gid => int($f[2]), members => $f[3] // "" };
    $gidsUsed{int($f[2])} = 1;
}
my %usersCur;
for (readLines("/etc/passwd")) {
    my @f = split(':', $_, -7);
    $usersCur{$f[0]} = { name => $f[0], fakePassword => $f[1], uid => int($f[2]), gid => $f[3], description => $f[4], home => $f[5], shell => $f[6] };
    $uidsUsed{int($f[2])} = 1;
}

sub allocId {
    my ($used, $prev, $min, $max, $up) = @_;
    for (my $id = $up ? $min : $max; $id >= $min && $id <= $max; $id += $up ? 1 : -1) {
        next if $used->{$id} || $prev->{$id};
        $used->{$id} = 1;
        return $id;
    }
    die "$0: out of free UIDs or GIDs\n";
}
sub allocGid {
    my ($name) = @_;
    my $prev = $gidMap->{$name};
    if (defined $prev && !$gidsUsed{$prev}) { print STDERR "reviving group '$name' with GID $prev\n"; $gidsUsed{$prev} = 1; return $prev; }
    return allocId(\%gidsUsed, \%gidsPrev, 400, 999, 0);
}
sub allocUid {
    my ($name, $system) = @_;
    my ($min, $max, $up) = $system ? (400, 999, 0) : (1000, 29999, 1);
    my $prev = $uidMap->{$name};
    if (defined $prev && $prev >= $min && $prev <= $max && !$uidsUsed{$prev}) { print STDERR "reviving user '$name' with UID $prev\n"; $uidsUsed{$prev} = 1; return $prev; }
    return allocId(\%uidsUsed, \%uidsPrev, $min, $max, $up);
}

# Groups.
my %groupsOut;
for my $g (@{$spec->{groups}}) {
    my $name = $g->{name};
    my %members = map { ($_ => 1) } @{$g->{members}};
    my $gid = $g->{gid};
    if (my $cur = $groupsCur{$name}) {
        if (defined $gid && $gid != $cur->{gid}) { print STDERR "warning: not applying GID change of group ‘$name’ ($cur->{gid} -> $gid) in /etc/group\n"; }
        $gid = $cur->{gid};
        if ($spec->{mutableUsers}) { $members{$_} = 1 for grep { !$declUsers{$_} } split /,/, $cur->{members}; }
    } else {
        $gid = allocGid($name) unless defined $gid;
    }
    $groupsOut{$name} = { name => $name, password => "x", gid => $gid, members => join(",", sort keys %members) };
    $gidMap->{$name} = $gid;
}
for my $name (keys %groupsCur) {
    next if $groupsOut{$name};
    if (!$spec->{mutableUsers} || $declGroups{$name}) { print STDERR "removing group ‘$name’\n"; } else { $groupsOut{$name} = $groupsCur{$name}; }
}
spew("$state/declarative-groups", join(" ", sort map { $_->{name} } @{$spec->{groups}}));
spew("$state/gid-map", $json->encode($gidMap));
spew("/etc/group", join("", map { "$_->{name}:$_->{password}:$_->{gid}:$_->{members}\n" } sort { $a->{gid} <=> $b->{gid} } values %groupsOut));

# Users.
my %usersOut;
for my $u (@{$spec->{users}}) {
    my $name = $u->{name};
    my $gid = $u->{group} =~ /^[0-9]+$/ ? $u->{group} : ($groupsOut{$u->{group}} // {})->{gid};
    if (!defined $gid) { print STDERR "warning: user ‘$name’ has unknown group ‘$u->{group}’\n"; $gid = 65534; }
    my $cur = $usersCur{$name};
    my $uid = $u->{uid};
    my $hash = $u->{hashedPassword};
    if ($cur) {
        if (defined $uid && $uid != $cur->{uid}) { print STDERR "warning: not applying UID change of user ‘$name’ ($cur->{uid} -> $uid) in /etc/passwd\n"; }
        $uid = $cur->{uid};
    } else {
        $uid = allocUid($name, $u->{isSystemUser}) unless defined $uid;
        $hash //= $u->{initialHashedPassword};
        $hash //= crypt($u->{initialPassword}, '$6$' . join("", map { ('.', '/', 0..9, 'A'..'Z', 'a'..'z')[rand 64] } 1..8) . '$') if defined $u->{initialPassword};
    }
    if ($u->{createHome}) {
        make_path($u->{home}) unless -e $u->{home};
        chown($uid, $gid, $u->{home});
        chmod(oct($u->{homeMode}), $u->{home});
    }
    if (defined $u->{hashedPasswordFile}) {
        if (-e $u->{hashedPasswordFile}) { $hash = slurp($u->{hashedPasswordFile}); chomp $hash; }
        else { print STDERR "warning: password file ‘$u->{hashedPasswordFile}’ does not exist\n"; }
    }
    my $shell = $u->{shell};
    if (!defined $shell) {
        if ($cur) { $shell = $cur->{shell}; }
        else { print STDERR "warning: no declarative or previous shell for ‘$name’, setting shell to nologin\n"; $shell = "/run/current-system/sw/bin/nologin"; }
    }
    $usersOut{$name} = { name => $name, fakePassword => ($cur ? $cur->{fakePassword} : "x"), uid => $uid, gid => $gid,
        description => $u->{description}, home => $u->{home}, shell => $shell, hashedPassword => $hash };
    $uidMap->{$name} = $uid;
}
for my $name (keys %usersCur) {
    next if $usersOut{$name};
    if (!$spec->{mutableUsers} || $declUsers{$name}) { print STDERR "removing user ‘$name’\n"; } else { $usersOut{$name} = $usersCur{$name}; }
}
spew("$state/declarative-users", join(" ", sort map { $_->{name} } @{$spec->{users}}));
spew("$state/uid-map", $json->encode($uidMap));
spew("/etc/passwd", join("", map { join(":", @$_{qw(name fakePassword uid gid description home shell)}) . "\n" } sort { $a->{uid} <=> $b->{uid} } values %usersOut));

# Shadow: existing entries of remaining users (with mutableUsers = false the declared hash, or "!"),
# then new accounts.
my (@shadow, %seen);
for (readLines("/etc/shadow")) {
    my @f = split(':', $_, -9);
    my $u = $usersOut{$f[0]} or next;
    if (!$spec->{mutableUsers}) { $f[1] = $u->{hashedPassword} // "!"; }
    push @shadow, join(":", @f) . "\n";
    $seen{$f[0]} = 1;
}
push @shadow, "$_->{name}:" . ($_->{hashedPassword} // "!") . ":1::::::\n" for grep { !$seen{$_->{name}} } sort { $a->{uid} <=> $b->{uid} } values %usersOut;
spew("/etc/shadow", join("", @shadow), 0640);
chown(0, (getgrnam("shadow"))[2] // 0, "/etc/shadow");
