package ovsdb

import "context"

// Constructors for the typed Go API, so daemon code reads like the
// operations it sends:
//
//	db.Transact(ctx, []ovsdb.Operation{
//		ovsdb.Update("Interface", ovsdb.Where1("_uuid", "==", ovsdb.Scalar(u)),
//			map[string]ovsdb.Datum{"ofport": ovsdb.Scalar(int64(3))}),
//	}, ovsdb.TxnOptions{Origin: "vswitchd", NoSync: true})

// Insert is an insert operation; name, when not "", is its uuid-name.
func Insert(table, name string, row map[string]Datum) Operation {
	return Operation{Op: "insert", Table: table, UUIDName: name, Row: row}
}

// Select selects columns (nil = all) of the rows matching where.
func Select(table string, where []Condition, columns ...string) Operation {
	return Operation{Op: "select", Table: table, Where: where, Columns: columns}
}

// Update sets columns of the rows matching where.
func Update(table string, where []Condition, row map[string]Datum) Operation {
	return Operation{Op: "update", Table: table, Where: where, Row: row}
}

// Mutate applies mutations to the rows matching where.
func Mutate(table string, where []Condition, m ...Mutation) Operation {
	return Operation{Op: "mutate", Table: table, Where: where, Mutations: m}
}

// Delete deletes the rows matching where.
func Delete(table string, where []Condition) Operation {
	return Operation{Op: "delete", Table: table, Where: where}
}

// Where1 is a one-condition where clause.
func Where1(column, function string, value Datum) []Condition {
	return []Condition{{Column: column, Function: function, Value: value}}
}

// ByUUID selects one row by its UUID.
func ByUUID(u UUID) []Condition { return Where1("_uuid", "==", Scalar(u)) }

// UpdateRow sets columns of one row: the daemon's status write-back. It
// returns an error when the row no longer exists.
func (db *DB) UpdateRow(table string, u UUID, cols map[string]Datum, opt TxnOptions) error {
	res, err := db.Transact(context.Background(), []Operation{Update(table, ByUUID(u), cols)}, opt)
	if err != nil {
		return err
	}
	if res[0].Count == 0 {
		return Errorf(ErrConstraint, "%s row %s does not exist", table, u)
	}
	return nil
}
