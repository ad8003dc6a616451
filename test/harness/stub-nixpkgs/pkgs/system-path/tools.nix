# What a NixOS system path (nixos/modules/config/system-path.nix: requiredPackages, the default
# packages and what enabled modules add) puts in /run/current-system/sw/bin, by command name,
# taken from the machine. jq, python and the like are not there, as on NixOS.
[
  # coreutils
  "[" "b2sum" "base32" "base64" "basename" "basenc" "cat" "chcon" "chgrp" "chmod" "chown" "chroot"
  "cksum" "comm" "cp" "csplit" "cut" "date" "dd" "df" "dir" "dircolors" "dirname" "du" "echo" "env"
  "expand" "expr" "factor" "false" "fmt" "fold" "groups" "head" "hostid" "id" "install" "join"
  "link" "ln" "logname" "ls" "md5sum" "mkdir" "mkfifo" "mknod" "mktemp" "mv" "nice" "nl" "nohup"
  "nproc" "numfmt" "od" "paste" "pathchk" "pinky" "pr" "printenv" "printf" "ptx" "pwd" "readlink"
  "realpath" "rm" "rmdir" "runcon" "seq" "sha1sum" "sha224sum" "sha256sum" "sha384sum" "sha512sum"
  "shred" "shuf" "sleep" "sort" "split" "stat" "stdbuf" "stty" "sum" "sync" "tac" "tail" "tee"
  "test" "timeout" "touch" "tr" "true" "truncate" "tsort" "tty" "uname" "unexpand" "uniq" "unlink"
  "users" "vdir" "wc" "who" "whoami" "yes"
  # util-linux
  "flock" "mount" "umount" "findmnt" "lsblk" "blkid" "kill" "logger" "more" "mountpoint" "nsenter"
  "unshare" "setsid" "script" "getopt" "lscpu" "dmesg" "renice" "taskset" "ionice" "uuidgen"
  "whereis" "wall" "hexdump" "rev" "column" "fallocate" "losetup" "swapon" "swapoff" "mkswap"
  # the rest of requiredPackages and defaultPackages
  "bash" "sh" "find" "xargs" "grep" "egrep" "fgrep" "sed" "awk" "gawk" "tar" "gzip" "gunzip" "zcat"
  "xz" "unxz" "bzip2" "bunzip2" "zstd" "cpio" "curl" "diff" "cmp" "sdiff" "diff3" "patch" "less"
  "which" "getent" "getconf" "ps" "pgrep" "pkill" "top" "free" "uptime" "watch" "pidof" "sysctl"
  "time" "nc" "perl" "rsync" "strace" "nano" "nologin" "hostname" "setfacl" "getfacl"
  "useradd" "userdel" "usermod" "groupadd" "groupdel" "chpasswd"
  "ip" "ss" "ping" "modprobe" "lsmod" "insmod" "rmmod"
  # nix, openssh. setuid programs (sudo, su, passwd) are only wrappers in /run/wrappers/bin, as on NixOS
  "nix" "nix-build" "nix-channel" "nix-collect-garbage" "nix-copy-closure" "nix-daemon" "nix-env"
  "nix-hash" "nix-instantiate" "nix-prefetch-url" "nix-shell" "nix-store"
  "ssh" "scp" "sftp" "ssh-add" "ssh-agent" "ssh-keygen" "ssh-keyscan"
]
