#!/bin/bash
# cap.sh NAME ovs-ofctl-args... : record one command's exchange
name=$1; shift
: > cap.txt
timeout 5 ovs-ofctl "$@" > out/$name.out 2>&1
echo "rc=$?" >> out/$name.out
sleep 0.2
{ echo "# ovs-ofctl $*" ; cat cap.txt; } > out/$name.hex
