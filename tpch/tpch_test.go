package tpch

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"
	"github.com/apache/arrow-go/v18/parquet"
	"github.com/apache/arrow-go/v18/parquet/file"
	"github.com/apache/arrow-go/v18/parquet/pqarrow"
)

const testSF = 0.01

// sharedDir holds one SF 0.01 generation that most tests read.
var sharedDir string

func TestMain(m *testing.M) {
	pool := getTextPool() // keep one pool alive for every Generate in the tests
	dir, err := os.MkdirTemp("", "tpch-test-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	sharedDir = filepath.Join(dir, "sf001")
	if err := Generate(context.Background(), GenOptions{SF: testSF, OutDir: sharedDir}); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	code := m.Run()
	runtime.KeepAlive(pool)
	os.RemoveAll(dir)
	os.Exit(code)
}

// tbl is a table read back into Go slices, keyed by column name.
type tbl struct {
	n    int
	cols map[string]any // []int32, []int64 (also decimals, in cents), []string
}

var (
	tblMu    sync.Mutex
	tblCache = map[string]*tbl{}
)

func readArrow(t *testing.T, path string) arrow.Table {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	at, err := pqarrow.ReadTable(context.Background(), f, parquet.NewReaderProperties(memory.DefaultAllocator),
		pqarrow.ArrowReadProperties{}, memory.DefaultAllocator)
	if err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	return at
}

// load reads a table of the shared SF 0.01 generation.
func load(t *testing.T, name string) *tbl {
	t.Helper()
	tblMu.Lock()
	defer tblMu.Unlock()
	if x, ok := tblCache[name]; ok {
		return x
	}
	at := readArrow(t, filepath.Join(sharedDir, name+".parquet"))
	defer at.Release()
	x := &tbl{n: int(at.NumRows()), cols: map[string]any{}}
	for i, f := range at.Schema().Fields() {
		ch := at.Column(i).Data()
		switch f.Type.ID() {
		case arrow.INT32:
			var v []int32
			for _, c := range ch.Chunks() {
				v = append(v, c.(*array.Int32).Int32Values()...)
			}
			x.cols[f.Name] = v
		case arrow.DATE32:
			var v []int32
			for _, c := range ch.Chunks() {
				for _, d := range c.(*array.Date32).Date32Values() {
					v = append(v, int32(d))
				}
			}
			x.cols[f.Name] = v
		case arrow.INT64:
			var v []int64
			for _, c := range ch.Chunks() {
				v = append(v, c.(*array.Int64).Int64Values()...)
			}
			x.cols[f.Name] = v
		case arrow.DECIMAL128:
			var v []int64
			for _, c := range ch.Chunks() {
				for _, d := range c.(*array.Decimal128).Values() {
					v = append(v, int64(d.LowBits()))
				}
			}
			x.cols[f.Name] = v
		case arrow.STRING:
			var v []string
			for _, c := range ch.Chunks() {
				s := c.(*array.String)
				for j := 0; j < s.Len(); j++ {
					v = append(v, strings.Clone(s.Value(j)))
				}
			}
			x.cols[f.Name] = v
		default:
			t.Fatalf("%s.%s: unexpected type %s", name, f.Name, f.Type)
		}
	}
	tblCache[name] = x
	return x
}

func (x *tbl) i32(name string) []int32  { return x.cols[name].([]int32) }
func (x *tbl) i64(name string) []int64  { return x.cols[name].([]int64) }
func (x *tbl) str(name string) []string { return x.cols[name].([]string) }

// day32 converts a date to arrow date32 days.
func day32(y, m, d int) int32 {
	days := int32(0)
	for yy := 1970; yy < y; yy++ {
		days += 365
		if yy%4 == 0 {
			days++
		}
	}
	mdays := []int{31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31}
	if y%4 == 0 {
		mdays[1] = 29
	}
	for i := 0; i < m-1; i++ {
		days += int32(mdays[i])
	}
	return days + int32(d-1)
}

func TestTablesAndSchema(t *testing.T) {
	want := []string{"region", "nation", "supplier", "customer", "part", "partsupp", "orders", "lineitem"}
	got := Tables()
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("Tables() = %v", got)
	}
	got[0] = "changed"
	if Tables()[0] != "region" {
		t.Fatal("Tables() shares its slice")
	}
	if _, err := Schema("nope"); err == nil {
		t.Fatal("Schema(nope) did not fail")
	}
	s, err := Schema("lineitem")
	if err != nil {
		t.Fatal(err)
	}
	types := map[string]string{
		"l_orderkey": "int64", "l_partkey": "int32", "l_linenumber": "int32",
		"l_quantity": "decimal(15, 2)", "l_extendedprice": "decimal(15, 2)",
		"l_returnflag": "utf8", "l_shipdate": "date32", "l_comment": "utf8",
	}
	for name, typ := range types {
		idx := s.FieldIndices(name)
		if len(idx) != 1 {
			t.Fatalf("lineitem has no %s", name)
		}
		if f := s.Field(idx[0]); f.Type.String() != typ || f.Nullable {
			t.Errorf("%s: %s nullable=%v, want %s not null", name, f.Type, f.Nullable, typ)
		}
	}
	o, _ := Schema("orders")
	if f, _ := o.FieldsByName("o_orderkey"); f[0].Type.ID() != arrow.INT64 {
		t.Error("o_orderkey is not int64")
	}
	if f, _ := o.FieldsByName("o_custkey"); f[0].Type.ID() != arrow.INT32 {
		t.Error("o_custkey is not int32")
	}
	ncols := map[string]int{"region": 3, "nation": 4, "supplier": 7, "customer": 8, "part": 9, "partsupp": 5, "orders": 9, "lineitem": 16}
	for name, n := range ncols {
		s, err := Schema(name)
		if err != nil || s.NumFields() != n {
			t.Errorf("Schema(%s): %v fields, err %v", name, s.NumFields(), err)
		}
	}
}

func TestQuery(t *testing.T) {
	for n := 1; n <= 22; n++ {
		q, err := Query(n)
		if err != nil {
			t.Fatal(err)
		}
		b, err := os.ReadFile(fmt.Sprintf("queries/q%02d.sql", n))
		if err != nil {
			t.Fatal(err)
		}
		if q != string(b) || !strings.Contains(strings.ToUpper(q), "SELECT") {
			t.Errorf("Query(%d) differs from queries/q%02d.sql", n, n)
		}
	}
	for _, n := range []int{0, 23, -1} {
		if _, err := Query(n); err == nil {
			t.Errorf("Query(%d) did not fail", n)
		}
	}
}

func TestReadBackSchemaAndCounts(t *testing.T) {
	want := map[string]int64{
		"region": 5, "nation": 25, "supplier": 100, "customer": 1500,
		"part": 2000, "partsupp": 8000, "orders": 15000, "lineitem": 60175,
	}
	for _, name := range Tables() {
		path := filepath.Join(sharedDir, name+".parquet")
		rdr, err := file.OpenParquetFile(path, false)
		if err != nil {
			t.Fatal(err)
		}
		if rdr.NumRows() != want[name] {
			t.Errorf("%s: %d rows, want %d", name, rdr.NumRows(), want[name])
		}
		if c, err := rdr.MetaData().RowGroup(0).ColumnChunk(0); err != nil || c.Compression().String() != "SNAPPY" {
			t.Errorf("%s: compression %v (%v)", name, c.Compression(), err)
		}
		rdr.Close()

		at := readArrow(t, path)
		exp, _ := Schema(name)
		got := at.Schema()
		if got.NumFields() != exp.NumFields() {
			t.Fatalf("%s: %d fields, want %d", name, got.NumFields(), exp.NumFields())
		}
		for i, f := range exp.Fields() {
			g := got.Field(i)
			if g.Name != f.Name || !arrow.TypeEqual(g.Type, f.Type) || g.Nullable {
				t.Errorf("%s: field %d is %s %s nullable=%v, want %s %s", name, i, g.Name, g.Type, g.Nullable, f.Name, f.Type)
			}
		}
		at.Release()
	}
	matches, _ := filepath.Glob(filepath.Join(sharedDir, ".*"))
	if len(matches) != 0 {
		t.Errorf("temporary files left: %v", matches)
	}
}

func TestDeterminism(t *testing.T) {
	dir := t.TempDir()
	if err := Generate(context.Background(), GenOptions{SF: testSF, OutDir: dir}); err != nil {
		t.Fatal(err)
	}
	for _, name := range Tables() {
		a, err := os.ReadFile(filepath.Join(sharedDir, name+".parquet"))
		if err != nil {
			t.Fatal(err)
		}
		b, err := os.ReadFile(filepath.Join(dir, name+".parquet"))
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(a, b) {
			t.Errorf("%s differs between two runs", name)
		}
	}
}

// TestChunking checks that generating a range in pieces equals generating it
// at once: every stream must jump to the right row.
func TestChunking(t *testing.T) {
	e := newGenEnv(testSF, getTextPool())
	for _, name := range []string{"supplier", "customer", "part", "partsupp", "orders", "lineitem"} {
		g := tableGens[name]
		rb := array.NewRecordBuilder(memory.DefaultAllocator, tableSchemas[name])
		g.gen(e, rb, 0, 37)
		whole := rb.NewRecordBatch()
		g.gen(e, rb, 0, 10)
		r1 := rb.NewRecordBatch()
		g.gen(e, rb, 10, 27)
		r2 := rb.NewRecordBatch()
		parts := array.NewTableFromRecords(tableSchemas[name], []arrow.RecordBatch{r1, r2})
		wt := array.NewTableFromRecords(tableSchemas[name], []arrow.RecordBatch{whole})
		if !array.TableEqual(wt, parts) {
			t.Errorf("%s: chunked generation differs", name)
		}
		for _, r := range []arrow.RecordBatch{whole, r1, r2} {
			r.Release()
		}
		parts.Release()
		wt.Release()
		rb.Release()
	}
}

// TestDbgenRows checks rows against the official dbgen output (the columns
// that do not depend on the scale factor, and SF 0.01 values).
func TestDbgenRows(t *testing.T) {
	row := func(x *tbl, i int) string {
		var parts []string
		for _, c := range tableColumns[tableNameOf(x)] {
			switch v := x.cols[c.name].(type) {
			case []int32:
				if c.typ.ID() == arrow.DATE32 {
					parts = append(parts, arrow.Date32(v[i]).FormattedString())
				} else {
					parts = append(parts, fmt.Sprint(v[i]))
				}
			case []int64:
				if c.typ.ID() == arrow.DECIMAL128 {
					n := v[i]
					sign := ""
					if n < 0 {
						sign, n = "-", -n
					}
					parts = append(parts, fmt.Sprintf("%s%d.%02d", sign, n/100, n%100))
				} else {
					parts = append(parts, fmt.Sprint(v[i]))
				}
			case []string:
				parts = append(parts, v[i])
			}
		}
		return strings.Join(parts, "|") + "|"
	}
	want := map[string][]string{
		"nation": {"0|ALGERIA|0| haggle. carefully final deposits detect slyly agai|",
			"1|ARGENTINA|1|al foxes promise slyly according to the regular accounts. bold requests alon|"},
		"region": {"0|AFRICA|lar deposits. blithely final packages cajole. regular waters are final requests. regular accounts are according to |"},
		"supplier": {"1|Supplier#000000001| N kD4on9OM Ipw3,gf0JBoQDd7tgrzrddZ|17|27-918-335-1736|5755.94|each slyly above the careful|",
			"2|Supplier#000000002|89eJ5ksX3ImxJQBvxObC,|5|15-679-861-2259|4032.68| slyly bold instructions. idle dependen|"},
		"customer": {"1|Customer#000000001|IVhzIApeRb ot,c,E|15|25-989-741-2988|711.56|BUILDING|to the even, regular platelets. regular, ironic epitaphs nag e|",
			"2|Customer#000000002|XSTf4,NCwDVaWNe6tEgvwfmRchLXak|13|23-768-687-3665|121.65|AUTOMOBILE|l accounts. blithely ironic theodolites integrate boldly: caref|"},
		"part": {"1|goldenrod lavender spring chocolate lace|Manufacturer#1|Brand#13|PROMO BURNISHED COPPER|7|JUMBO PKG|901.00|ly. slyly ironi|",
			"2|blush thistle blue yellow saddle|Manufacturer#1|Brand#13|LARGE BRUSHED BRASS|1|LG CASE|902.00|lar accounts amo|"},
		"orders": {"1|370|O|172799.49|1996-01-02|5-LOW|Clerk#000000951|0|nstructions sleep furiously among |",
			"2|781|O|38426.09|1996-12-01|1-URGENT|Clerk#000000880|0| foxes. pending accounts at the pending, silent asymptot|"},
		"lineitem": {"1|1552|93|1|17.00|24710.35|0.04|0.02|N|O|1996-03-13|1996-02-12|1996-03-22|DELIVER IN PERSON|TRUCK|egular courts above the|",
			"1|674|75|2|36.00|56688.12|0.09|0.06|N|O|1996-04-12|1996-02-28|1996-04-20|TAKE BACK RETURN|MAIL|ly final dependencies: slyly bold |"},
		"partsupp": {"1|2|3325|771.64|, even theodolites. regular, final theodolites eat after the carefully pending foxes. furiously regular deposits sleep slyly. carefully bold realms above the ironic dependencies haggle careful|"},
	}
	for name, rows := range want {
		x := load(t, name)
		for i, w := range rows {
			if got := row(x, i); got != w {
				t.Errorf("%s row %d:\n got %s\nwant %s", name, i, got, w)
			}
		}
	}
}

func tableNameOf(x *tbl) string {
	for name, cols := range tableColumns {
		if _, ok := x.cols[cols[0].name]; ok {
			return name
		}
	}
	return ""
}

func TestKeysAndReferences(t *testing.T) {
	reg, nat := load(t, "region"), load(t, "nation")
	sup, cust, part := load(t, "supplier"), load(t, "customer"), load(t, "part")
	ps, ord, li := load(t, "partsupp"), load(t, "orders"), load(t, "lineitem")

	seq := func(name string, keys []int32, first int32) {
		for i, k := range keys {
			if k != first+int32(i) {
				t.Fatalf("%s: key %d at row %d", name, k, i)
			}
		}
	}
	seq("region", reg.i32("r_regionkey"), 0)
	seq("nation", nat.i32("n_nationkey"), 0)
	seq("supplier", sup.i32("s_suppkey"), 1)
	seq("customer", cust.i32("c_custkey"), 1)
	seq("part", part.i32("p_partkey"), 1)
	for _, r := range nat.i32("n_regionkey") {
		if r < 0 || r > 4 {
			t.Fatalf("n_regionkey %d", r)
		}
	}
	for _, col := range [][]int32{sup.i32("s_nationkey"), cust.i32("c_nationkey")} {
		for _, n := range col {
			if n < 0 || n > 24 {
				t.Fatalf("nationkey %d", n)
			}
		}
	}

	// partsupp: 4 distinct suppliers per part, valid keys.
	type pair struct{ p, s int32 }
	psKeys := map[pair]bool{}
	pk, sk := ps.i32("ps_partkey"), ps.i32("ps_suppkey")
	for i := range pk {
		if pk[i] != int32(i/4+1) || sk[i] < 1 || int(sk[i]) > sup.n {
			t.Fatalf("partsupp row %d: (%d, %d)", i, pk[i], sk[i])
		}
		k := pair{pk[i], sk[i]}
		if psKeys[k] {
			t.Fatalf("duplicate partsupp key %v", k)
		}
		psKeys[k] = true
	}

	// orders: unique sparse keys, customers that exist and are not 0 mod 3.
	orderIdx := map[int64]int{}
	ok, ock := ord.i64("o_orderkey"), ord.i32("o_custkey")
	for i, k := range ok {
		if k&31 >= 8 || k <= 0 {
			t.Fatalf("o_orderkey %d is not sparse", k)
		}
		if _, dup := orderIdx[k]; dup {
			t.Fatalf("duplicate o_orderkey %d", k)
		}
		orderIdx[k] = i
		if ock[i] < 1 || int(ock[i]) > cust.n || ock[i]%3 == 0 {
			t.Fatalf("o_custkey %d", ock[i])
		}
	}
	if ok[len(ok)-1] != orderKey(int64(ord.n)) {
		t.Errorf("last o_orderkey %d", ok[len(ok)-1])
	}

	// lineitem: keys in orders and partsupp, line numbers 1..n per order.
	lok, lpk, lsk, lnum := li.i64("l_orderkey"), li.i32("l_partkey"), li.i32("l_suppkey"), li.i32("l_linenumber")
	lines := map[int64]int32{}
	for i := range lok {
		if _, ok := orderIdx[lok[i]]; !ok {
			t.Fatalf("l_orderkey %d not in orders", lok[i])
		}
		if !psKeys[pair{lpk[i], lsk[i]}] {
			t.Fatalf("lineitem (%d, %d) not in partsupp", lpk[i], lsk[i])
		}
		if lnum[i] != lines[lok[i]]+1 {
			t.Fatalf("order %d: line %d after %d", lok[i], lnum[i], lines[lok[i]])
		}
		lines[lok[i]] = lnum[i]
		if i > 0 && lok[i] < lok[i-1] {
			t.Fatal("lineitem not ordered by l_orderkey")
		}
	}
	if len(lines) != ord.n {
		t.Errorf("%d orders have lines, want %d", len(lines), ord.n)
	}
	for _, n := range lines {
		if n < 1 || n > 7 {
			t.Fatalf("order with %d lines", n)
		}
	}
}

func TestOrderTotalsAndStatus(t *testing.T) {
	ord, li, part := load(t, "orders"), load(t, "lineitem"), load(t, "part")
	price := part.i64("p_retailprice")
	lok, lpk := li.i64("l_orderkey"), li.i32("l_partkey")
	qty, ext, disc, tax := li.i64("l_quantity"), li.i64("l_extendedprice"), li.i64("l_discount"), li.i64("l_tax")
	status := li.str("l_linestatus")
	sum := map[int64]int64{}
	nF, nO := map[int64]int{}, map[int64]int{}
	for i := range lok {
		if qty[i]%100 != 0 || ext[i] != qty[i]/100*price[lpk[i]-1] {
			t.Fatalf("line %d: quantity %d extendedprice %d price %d", i, qty[i], ext[i], price[lpk[i]-1])
		}
		sum[lok[i]] += ext[i] * (100 - disc[i]) / 100 * (100 + tax[i]) / 100
		if status[i] == "F" {
			nF[lok[i]]++
		} else {
			nO[lok[i]]++
		}
	}
	ok, total, ostatus := ord.i64("o_orderkey"), ord.i64("o_totalprice"), ord.str("o_orderstatus")
	counts := map[string]int{}
	for i, k := range ok {
		if total[i] != sum[k] {
			t.Fatalf("order %d: o_totalprice %d, lines give %d", k, total[i], sum[k])
		}
		want := "P"
		switch {
		case nO[k] == 0:
			want = "F"
		case nF[k] == 0:
			want = "O"
		}
		if ostatus[i] != want {
			t.Fatalf("order %d: status %s, want %s", k, ostatus[i], want)
		}
		counts[want]++
	}
	if counts["F"] == 0 || counts["O"] == 0 || counts["P"] == 0 {
		t.Errorf("order statuses %v", counts)
	}
	// p_retailprice formula (spec 4.2.3).
	for i, p := range price {
		k := int64(i + 1)
		if p != 90000+(k/10)%20001+(k%1000)*100 {
			t.Fatalf("p_retailprice of %d is %d", k, p)
		}
	}
}

func TestDomains(t *testing.T) {
	li, ord := load(t, "lineitem"), load(t, "orders")
	minDay, endDay := day32(1992, 1, 1), day32(1998, 12, 31)
	current := day32(1995, 6, 17)
	odate := ord.i32("o_orderdate")
	odByKey := map[int64]int32{}
	for i, k := range ord.i64("o_orderkey") {
		if odate[i] < minDay || odate[i] > endDay-151 {
			t.Fatalf("o_orderdate %s", arrow.Date32(odate[i]).FormattedString())
		}
		odByKey[k] = odate[i]
	}
	lok := li.i64("l_orderkey")
	ship, commit, rcpt := li.i32("l_shipdate"), li.i32("l_commitdate"), li.i32("l_receiptdate")
	qty, disc, tax := li.i64("l_quantity"), li.i64("l_discount"), li.i64("l_tax")
	flag, status := li.str("l_returnflag"), li.str("l_linestatus")
	modes, instr := li.str("l_shipmode"), li.str("l_shipinstruct")
	flags := map[string]int{}
	validMode := map[string]bool{}
	for _, e := range distShipModes {
		validMode[e.value] = true
	}
	validInstr := map[string]bool{}
	for _, e := range distInstruct {
		validInstr[e.value] = true
	}
	for i := range lok {
		od := odByKey[lok[i]]
		if ship[i] < od+1 || ship[i] > od+121 || commit[i] < od+30 || commit[i] > od+90 ||
			rcpt[i] < ship[i]+1 || rcpt[i] > ship[i]+30 || rcpt[i] > endDay {
			t.Fatalf("line %d: dates %d %d %d %d", i, od, ship[i], commit[i], rcpt[i])
		}
		if qty[i] < 100 || qty[i] > 5000 || disc[i] < 0 || disc[i] > 10 || tax[i] < 0 || tax[i] > 8 {
			t.Fatalf("line %d: qty %d disc %d tax %d", i, qty[i], disc[i], tax[i])
		}
		wantStatus := "O"
		if ship[i] <= current {
			wantStatus = "F"
		}
		if status[i] != wantStatus {
			t.Fatalf("line %d: linestatus %s", i, status[i])
		}
		if rcpt[i] <= current {
			if flag[i] != "R" && flag[i] != "A" {
				t.Fatalf("line %d: returnflag %s for a past receipt", i, flag[i])
			}
		} else if flag[i] != "N" {
			t.Fatalf("line %d: returnflag %s for a future receipt", i, flag[i])
		}
		flags[flag[i]+status[i]]++
		if !validMode[modes[i]] || !validInstr[instr[i]] {
			t.Fatalf("line %d: %q %q", i, modes[i], instr[i])
		}
		if n := len(li.str("l_comment")[i]); n < 10 || n > 43 {
			t.Fatalf("l_comment length %d", n)
		}
	}
	// Q1 groups: AF, NF, NO, RF.
	for _, g := range []string{"AF", "NF", "NO", "RF"} {
		if flags[g] == 0 {
			t.Errorf("no lineitem with flag/status %s (%v)", g, flags)
		}
	}

	prio := map[string]bool{}
	for _, p := range ord.str("o_orderpriority") {
		prio[p] = true
	}
	if len(prio) != 5 {
		t.Errorf("order priorities %v", prio)
	}
	for _, c := range ord.str("o_clerk") {
		if len(c) != 15 || !strings.HasPrefix(c, "Clerk#") || c > "Clerk#000001000" {
			t.Fatalf("o_clerk %q", c)
		}
	}
}

func TestPartSupplierCustomerDomains(t *testing.T) {
	part, sup, cust, ps := load(t, "part"), load(t, "supplier"), load(t, "customer"), load(t, "partsupp")
	validType, validCont, validColor, validSeg := map[string]bool{}, map[string]bool{}, map[string]bool{}, map[string]bool{}
	for _, e := range distTypes {
		validType[e.value] = true
	}
	for _, e := range distContainers {
		validCont[e.value] = true
	}
	for _, e := range distColors {
		validColor[e.value] = true
	}
	for _, e := range distSegments {
		validSeg[e.value] = true
	}
	names, mfgr, brand := part.str("p_name"), part.str("p_mfgr"), part.str("p_brand")
	typ, size, cont := part.str("p_type"), part.i32("p_size"), part.str("p_container")
	for i := range names {
		words := strings.Split(names[i], " ")
		seen := map[string]bool{}
		for _, w := range words {
			if !validColor[w] || seen[w] {
				t.Fatalf("p_name %q", names[i])
			}
			seen[w] = true
		}
		if len(words) != 5 {
			t.Fatalf("p_name %q", names[i])
		}
		var m, b1, b2 int
		if _, err := fmt.Sscanf(mfgr[i], "Manufacturer#%d", &m); err != nil || m < 1 || m > 5 {
			t.Fatalf("p_mfgr %q", mfgr[i])
		}
		if len(brand[i]) != 8 || !strings.HasPrefix(brand[i], "Brand#") {
			t.Fatalf("p_brand %q", brand[i])
		}
		b1, b2 = int(brand[i][6]-'0'), int(brand[i][7]-'0')
		if b1 != m || b2 < 1 || b2 > 5 {
			t.Fatalf("p_brand %q for %q", brand[i], mfgr[i])
		}
		if !validType[typ[i]] || !validCont[cont[i]] || size[i] < 1 || size[i] > 50 {
			t.Fatalf("part %d: %q %q %d", i+1, typ[i], cont[i], size[i])
		}
	}
	for _, x := range []*tbl{sup, cust} {
		prefix := "s_"
		if x == cust {
			prefix = "c_"
		}
		phone, nk, bal := x.str(prefix+"phone"), x.i32(prefix+"nationkey"), x.i64(prefix+"acctbal")
		for i := range phone {
			if len(phone[i]) != 15 || phone[i][:2] != fmt.Sprint(10+nk[i]) {
				t.Fatalf("%sphone %q for nation %d", prefix, phone[i], nk[i])
			}
			if bal[i] < -99999 || bal[i] > 999999 {
				t.Fatalf("%sacctbal %d", prefix, bal[i])
			}
		}
	}
	for _, s := range cust.str("c_mktsegment") {
		if !validSeg[s] {
			t.Fatalf("c_mktsegment %q", s)
		}
	}
	for _, q := range ps.i32("ps_availqty") {
		if q < 1 || q > 9999 {
			t.Fatalf("ps_availqty %d", q)
		}
	}
	for _, c := range ps.i64("ps_supplycost") {
		if c < 100 || c > 100000 {
			t.Fatalf("ps_supplycost %d", c)
		}
	}
}

// TestQueryPreconditions checks the data the queries need to return rows.
func TestQueryPreconditions(t *testing.T) {
	part, cust, ord, nat := load(t, "part"), load(t, "customer"), load(t, "orders"), load(t, "nation")
	var q2, q9, q20 int
	for i, n := range part.str("p_name") {
		if part.i32("p_size")[i] == 15 && strings.HasSuffix(part.str("p_type")[i], "BRASS") {
			q2++
		}
		if strings.Contains(n, "green") {
			q9++
		}
		if strings.HasPrefix(n, "forest") {
			q20++
		}
	}
	if q2 == 0 || q9 == 0 || q20 == 0 {
		t.Errorf("Q2 parts %d, Q9 parts %d, Q20 parts %d", q2, q9, q20)
	}
	ordered := map[int32]bool{}
	for _, c := range ord.i32("o_custkey") {
		ordered[c] = true
	}
	codes := map[string]bool{"13": true, "31": true, "23": true, "29": true, "30": true, "18": true, "17": true}
	var noOrders, q22 int
	for i, c := range cust.i32("c_custkey") {
		if !ordered[c] {
			noOrders++
			if codes[cust.str("c_phone")[i][:2]] && cust.i64("c_acctbal")[i] > 0 {
				q22++
			}
		} else if c%3 == 0 {
			t.Fatalf("customer %d has orders", c)
		}
	}
	if noOrders < cust.n/3 || q22 == 0 {
		t.Errorf("%d customers without orders, %d Q22 candidates", noOrders, q22)
	}
	var q13 int
	for _, c := range ord.str("o_comment") {
		if i := strings.Index(c, "special"); i >= 0 && strings.Contains(c[i:], "requests") {
			q13++
		}
	}
	if q13 == 0 {
		t.Error("no o_comment matches special...requests")
	}
	if nat.str("n_name")[20] != "SAUDI ARABIA" || nat.i32("n_regionkey")[3] != 1 {
		t.Error("nation names or regions are off")
	}
}

// TestSupplierComplaints checks the "Customer ... Complaints" comments Q16
// excludes, over the SF 1 supplier table (about 5 of each kind).
func TestSupplierComplaints(t *testing.T) {
	e := newGenEnv(1, getTextPool())
	rb := array.NewRecordBuilder(memory.DefaultAllocator, tableSchemas["supplier"])
	defer rb.Release()
	genSupplier(e, rb, 0, e.nSupp)
	rec := rb.NewRecordBatch()
	defer rec.Release()
	cmt := rec.Column(6).(*array.String)
	var complaints, recommends int
	for i := 0; i < cmt.Len(); i++ {
		c := cmt.Value(i)
		j := strings.Index(c, "Customer ")
		if j < 0 {
			continue
		}
		switch {
		case strings.Contains(c[j:], "Complaints"):
			complaints++
		case strings.Contains(c[j:], "Recommends"):
			recommends++
		}
		if len(c) > 100 {
			t.Errorf("s_comment too long: %q", c)
		}
	}
	if complaints == 0 || recommends == 0 {
		t.Errorf("%d complaints, %d recommendations", complaints, recommends)
	}
}

func TestRowGroupsAndSubset(t *testing.T) {
	dir := t.TempDir()
	opt := GenOptions{SF: testSF, OutDir: filepath.Join(dir, "sub"), Tables: []string{"lineitem", "nation"}, RowGroupRows: 10000}
	if err := Generate(context.Background(), opt); err != nil {
		t.Fatal(err)
	}
	entries, _ := os.ReadDir(opt.OutDir)
	if len(entries) != 2 {
		t.Fatalf("wrote %d files", len(entries))
	}
	rdr, err := file.OpenParquetFile(filepath.Join(opt.OutDir, "lineitem.parquet"), false)
	if err != nil {
		t.Fatal(err)
	}
	defer rdr.Close()
	if rdr.NumRowGroups() != 7 {
		t.Fatalf("%d row groups, want 7", rdr.NumRowGroups())
	}
	for i := 0; i < rdr.NumRowGroups(); i++ {
		n := rdr.MetaData().RowGroup(i).NumRows()
		if i < 6 && n != 10000 || i == 6 && n != 175 {
			t.Errorf("row group %d has %d rows", i, n)
		}
	}
	// Same data as the default row group size.
	a := readArrow(t, filepath.Join(opt.OutDir, "lineitem.parquet"))
	b := readArrow(t, filepath.Join(sharedDir, "lineitem.parquet"))
	defer a.Release()
	defer b.Release()
	if !array.TableApproxEqual(a, b) {
		t.Error("lineitem differs with another row group size")
	}
}

func TestProgress(t *testing.T) {
	var buf bytes.Buffer
	if err := Generate(context.Background(), GenOptions{SF: testSF, OutDir: t.TempDir(), Tables: []string{"orders"}, Progress: &buf}); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(buf.String(), "15000/15000") {
		t.Errorf("progress output %q", buf.String())
	}
}

// cancelWriter cancels a context on its third write, once generation is
// under way.
type cancelWriter struct {
	mu     sync.Mutex
	writes int
	cancel context.CancelFunc
}

func (w *cancelWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.writes++; w.writes == 3 {
		w.cancel()
	}
	return len(p), nil
}

func TestCancelAndErrors(t *testing.T) {
	dir := t.TempDir()
	ctx, cancel := context.WithCancel(context.Background())
	err := Generate(ctx, GenOptions{SF: 0.1, OutDir: dir, Progress: &cancelWriter{cancel: cancel}})
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("Generate after cancel: %v", err)
	}
	if tmp, _ := filepath.Glob(filepath.Join(dir, ".*")); len(tmp) != 0 {
		t.Errorf("temporary files left: %v", tmp)
	}
	if _, err := os.Stat(filepath.Join(dir, "lineitem.parquet")); err == nil {
		t.Error("lineitem.parquet written despite cancellation")
	}

	bad := []GenOptions{
		{SF: 0, OutDir: dir},
		{SF: -1, OutDir: dir},
		{SF: 0.01},
		{SF: 0.01, OutDir: dir, Tables: []string{"lineitems"}},
		{SF: 0.01, OutDir: dir, RowGroupRows: -1},
	}
	for _, o := range bad {
		if err := Generate(context.Background(), o); err == nil {
			t.Errorf("Generate(%+v) did not fail", o)
		}
	}
	if err := Generate(ctx, GenOptions{SF: 0.01, OutDir: dir}); !errors.Is(err, context.Canceled) {
		t.Errorf("Generate with a cancelled context: %v", err)
	}
}

var _ io.Writer = (*cancelWriter)(nil)
