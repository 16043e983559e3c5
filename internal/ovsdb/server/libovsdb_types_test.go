package server

import libovsdb "github.com/ovn-kubernetes/libovsdb/ovsdb"

type ovsdbResult = libovsdb.OperationResult
