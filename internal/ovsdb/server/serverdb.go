package server

import (
	"context"

	"github.com/switchyard-net/switchyard/internal/ovsdb"
)

// serverSchema is the _Server database's schema: the one RFC 7047's
// successors and Open vSwitch's IDL read first to learn each database's
// state (ovsdb-server(5)).
const serverSchema = `{
 "name": "_Server",
 "version": "1.2.0",
 "tables": {
  "Database": {
   "columns": {
    "name": {"type": "string"},
    "model": {"type": {"key": {"type": "string", "enum": ["set", ["standalone", "clustered", "relay"]]}}},
    "connected": {"type": "boolean"},
    "leader": {"type": "boolean"},
    "schema": {"type": {"key": {"type": "string"}, "min": 0, "max": 1}},
    "cid": {"type": {"key": {"type": "uuid"}, "min": 0, "max": 1}},
    "sid": {"type": {"key": {"type": "uuid"}, "min": 0, "max": 1}},
    "index": {"type": {"key": {"type": "integer"}, "min": 0, "max": 1}}
   },
   "isRoot": true
  }
 }
}`

// ServerSchema returns the parsed _Server schema.
func ServerSchema() *ovsdb.Schema { return ovsdb.MustParseSchema([]byte(serverSchema)) }

// addServerRow records a database in _Server.Database.
func addServerRow(sdb *ovsdb.DB, db *ovsdb.DB) error {
	row := map[string]ovsdb.Datum{
		"name":      ovsdb.Scalar(db.Name()),
		"model":     ovsdb.Scalar("standalone"),
		"connected": ovsdb.Scalar(true),
		"leader":    ovsdb.Scalar(true),
		"schema":    ovsdb.Scalar(string(db.Schema().JSON())),
	}
	_, err := sdb.Transact(context.Background(), []ovsdb.Operation{
		{Op: "delete", Table: "Database", Where: []ovsdb.Condition{{Column: "name", Function: "==", Value: ovsdb.Scalar(db.Name())}}},
		{Op: "insert", Table: "Database", Row: row},
	}, ovsdb.TxnOptions{Origin: "server"})
	return err
}
