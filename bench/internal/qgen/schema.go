package qgen

// Column is a column of a base table.
type Column struct {
	Name string
	T    Type
}

// Table is a base table the generator draws from.
type Table struct {
	Name string
	Cols []Column
	// Small tables (at most a few dozen rows) may be cross joined.
	Small bool
}

// EdgeTable is the name of the small table of edge values (NULL in every
// column type, empty strings, zero, negative and extreme numbers).
const EdgeTable = "fz"

// Tables is the schema the generator uses: the TPC-H tables (without the
// long comment columns) and the edge table. The files behind them must
// have these column types (INTEGER/BIGINT for Int, DECIMAL for Decimal).
var Tables = []Table{
	{Name: "region", Small: true, Cols: []Column{{"r_regionkey", Int}, {"r_name", Text}}},
	{Name: "nation", Small: true, Cols: []Column{{"n_nationkey", Int}, {"n_name", Text}, {"n_regionkey", Int}}},
	{Name: "supplier", Cols: []Column{{"s_suppkey", Int}, {"s_name", Text}, {"s_nationkey", Int}, {"s_acctbal", Decimal}}},
	{Name: "customer", Cols: []Column{{"c_custkey", Int}, {"c_name", Text}, {"c_nationkey", Int}, {"c_acctbal", Decimal}, {"c_mktsegment", Text}}},
	{Name: "part", Cols: []Column{{"p_partkey", Int}, {"p_name", Text}, {"p_brand", Text}, {"p_type", Text}, {"p_size", Int}, {"p_container", Text}, {"p_retailprice", Decimal}}},
	{Name: "partsupp", Cols: []Column{{"ps_partkey", Int}, {"ps_suppkey", Int}, {"ps_availqty", Int}, {"ps_supplycost", Decimal}}},
	{Name: "orders", Cols: []Column{{"o_orderkey", Int}, {"o_custkey", Int}, {"o_orderstatus", Text}, {"o_totalprice", Decimal}, {"o_orderdate", Date}, {"o_orderpriority", Text}, {"o_shippriority", Int}}},
	{Name: "lineitem", Cols: []Column{{"l_orderkey", Int}, {"l_partkey", Int}, {"l_suppkey", Int}, {"l_linenumber", Int}, {"l_quantity", Decimal}, {"l_extendedprice", Decimal}, {"l_discount", Decimal}, {"l_tax", Decimal}, {"l_returnflag", Text}, {"l_linestatus", Text}, {"l_shipdate", Date}, {"l_commitdate", Date}, {"l_receiptdate", Date}, {"l_shipmode", Text}}},
	{Name: EdgeTable, Small: true, Cols: []Column{{"id", Int}, {"k", Int}, {"i", Int}, {"b", Int}, {"d", Decimal}, {"f", Double}, {"s", Text}, {"t", Date}, {"bo", Bool}}},
}

// joinEdge is an equi-join condition between two tables (a foreign key, or
// the edge table's k against the nation key).
type joinEdge struct {
	t1, c1, t2, c2 string
}

var joinEdges = []joinEdge{
	{"region", "r_regionkey", "nation", "n_regionkey"},
	{"nation", "n_nationkey", "supplier", "s_nationkey"},
	{"nation", "n_nationkey", "customer", "c_nationkey"},
	{"customer", "c_custkey", "orders", "o_custkey"},
	{"orders", "o_orderkey", "lineitem", "l_orderkey"},
	{"part", "p_partkey", "partsupp", "ps_partkey"},
	{"part", "p_partkey", "lineitem", "l_partkey"},
	{"supplier", "s_suppkey", "partsupp", "ps_suppkey"},
	{"supplier", "s_suppkey", "lineitem", "l_suppkey"},
	{EdgeTable, "k", "nation", "n_nationkey"},
	{EdgeTable, "k", "region", "r_regionkey"},
	{EdgeTable, "k", EdgeTable, "k"},
	{EdgeTable, "i", EdgeTable, "i"},
	{EdgeTable, "s", EdgeTable, "s"},
	{EdgeTable, "k", "supplier", "s_suppkey"},
	{"nation", "n_nationkey", "nation", "n_regionkey"},
}

func tableByName(name string) *Table {
	for i := range Tables {
		if Tables[i].Name == name {
			return &Tables[i]
		}
	}
	return nil
}

func colType(table, col string) Type {
	for _, c := range tableByName(table).Cols {
		if c.Name == col {
			return c.T
		}
	}
	panic("qgen: unknown column " + table + "." + col)
}
