package tpch

import (
	"fmt"

	"github.com/apache/arrow-go/v18/arrow"
)

// Column types as written to Parquet: INTEGER -> int32 (int64 for the order
// keys, which pass 2^31 above SF 300), DECIMAL(15,2) -> decimal128(15,2),
// DATE -> date32, CHAR/VARCHAR -> utf8 without padding. Nothing is nullable.

var (
	tInt32 = arrow.PrimitiveTypes.Int32
	tInt64 = arrow.PrimitiveTypes.Int64
	tDec   = &arrow.Decimal128Type{Precision: 15, Scale: 2}
	tDate  = arrow.FixedWidthTypes.Date32
	tStr   = arrow.BinaryTypes.String
)

// column describes one column; dict marks low-cardinality columns that are
// worth Parquet dictionary encoding.
type column struct {
	name string
	typ  arrow.DataType
	dict bool
}

var tableColumns = map[string][]column{
	"region": {
		{"r_regionkey", tInt32, false},
		{"r_name", tStr, false},
		{"r_comment", tStr, false},
	},
	"nation": {
		{"n_nationkey", tInt32, false},
		{"n_name", tStr, false},
		{"n_regionkey", tInt32, false},
		{"n_comment", tStr, false},
	},
	"supplier": {
		{"s_suppkey", tInt32, false},
		{"s_name", tStr, false},
		{"s_address", tStr, false},
		{"s_nationkey", tInt32, true},
		{"s_phone", tStr, false},
		{"s_acctbal", tDec, false},
		{"s_comment", tStr, false},
	},
	"customer": {
		{"c_custkey", tInt32, false},
		{"c_name", tStr, false},
		{"c_address", tStr, false},
		{"c_nationkey", tInt32, true},
		{"c_phone", tStr, false},
		{"c_acctbal", tDec, false},
		{"c_mktsegment", tStr, true},
		{"c_comment", tStr, false},
	},
	"part": {
		{"p_partkey", tInt32, false},
		{"p_name", tStr, false},
		{"p_mfgr", tStr, true},
		{"p_brand", tStr, true},
		{"p_type", tStr, true},
		{"p_size", tInt32, true},
		{"p_container", tStr, true},
		{"p_retailprice", tDec, false},
		{"p_comment", tStr, false},
	},
	"partsupp": {
		{"ps_partkey", tInt32, false},
		{"ps_suppkey", tInt32, false},
		{"ps_availqty", tInt32, false},
		{"ps_supplycost", tDec, false},
		{"ps_comment", tStr, false},
	},
	"orders": {
		{"o_orderkey", tInt64, false},
		{"o_custkey", tInt32, false},
		{"o_orderstatus", tStr, true},
		{"o_totalprice", tDec, false},
		{"o_orderdate", tDate, true},
		{"o_orderpriority", tStr, true},
		{"o_clerk", tStr, true},
		{"o_shippriority", tInt32, true},
		{"o_comment", tStr, false},
	},
	"lineitem": {
		{"l_orderkey", tInt64, false},
		{"l_partkey", tInt32, false},
		{"l_suppkey", tInt32, false},
		{"l_linenumber", tInt32, true},
		{"l_quantity", tDec, true},
		{"l_extendedprice", tDec, false},
		{"l_discount", tDec, true},
		{"l_tax", tDec, true},
		{"l_returnflag", tStr, true},
		{"l_linestatus", tStr, true},
		{"l_shipdate", tDate, true},
		{"l_commitdate", tDate, true},
		{"l_receiptdate", tDate, true},
		{"l_shipinstruct", tStr, true},
		{"l_shipmode", tStr, true},
		{"l_comment", tStr, false},
	},
}

var tableSchemas = func() map[string]*arrow.Schema {
	m := make(map[string]*arrow.Schema, len(tableColumns))
	for name, cols := range tableColumns {
		fields := make([]arrow.Field, len(cols))
		for i, c := range cols {
			fields[i] = arrow.Field{Name: c.name, Type: c.typ, Nullable: false}
		}
		m[name] = arrow.NewSchema(fields, nil)
	}
	return m
}()

// tableNames is the canonical table order (the order of the TPC-H spec's
// schema diagram, smallest tables first).
var tableNames = []string{"region", "nation", "supplier", "customer", "part", "partsupp", "orders", "lineitem"}

// Tables returns the 8 TPC-H table names in lowercase: region, nation,
// supplier, customer, part, partsupp, orders, lineitem. The slice is fresh.
func Tables() []string {
	return append([]string(nil), tableNames...)
}

// Schema returns the Arrow schema of table (lowercase name) exactly as
// Generate writes it to Parquet, or an error for an unknown table.
func Schema(table string) (*arrow.Schema, error) {
	s, ok := tableSchemas[table]
	if !ok {
		return nil, fmt.Errorf("tpch: unknown table %q", table)
	}
	return s, nil
}
