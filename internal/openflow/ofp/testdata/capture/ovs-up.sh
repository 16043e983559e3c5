#!/bin/bash
# private OVS for exploration
set -e
NS=syofx1
R=/tmp/ofx/ovs
mkdir -p $R
ip netns add $NS 2>/dev/null || true
ip -n $NS link set lo up
export OVS_RUNDIR=$R OVS_DBDIR=$R OVS_LOGDIR=$R OVS_SYSCONFDIR=$R
[ -f $R/conf.db ] || ovsdb-tool create $R/conf.db /usr/share/openvswitch/vswitch.ovsschema
ip netns exec $NS ovsdb-server $R/conf.db --remote=punix:$R/db.sock --pidfile=$R/ovsdb-server.pid --detach --log-file=$R/ovsdb-server.log
ip netns exec $NS ovs-vsctl --db=unix:$R/db.sock --no-wait init
ip netns exec $NS ovs-vswitchd unix:$R/db.sock --disable-system --pidfile=$R/ovs-vswitchd.pid --detach --log-file=$R/ovs-vswitchd.log
VS="ip netns exec $NS ovs-vsctl --db=unix:$R/db.sock"
$VS --may-exist add-br br0 -- set bridge br0 datapath_type=netdev other-config:hwaddr=02:00:00:00:aa:01 other-config:datapath-id=0000020000aa0001
ip -n $NS link add p1 type veth peer name p1b || true
ip -n $NS link set p1 up; ip -n $NS link set p1b up
$VS --may-exist add-port br0 p1
$VS set bridge br0 protocols=OpenFlow10,OpenFlow11,OpenFlow12,OpenFlow13,OpenFlow14,OpenFlow15
