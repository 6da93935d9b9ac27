package harness

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/decimal128"
	"github.com/apache/arrow-go/v18/arrow/memory"
	"github.com/apache/arrow-go/v18/parquet"
	"github.com/apache/arrow-go/v18/parquet/pqarrow"
	"github.com/duckdb/duckdb-go/v2"
)

// writeTinyParquet writes DIR/t.parquet with the column types that
// `bellows tpch gen` uses: int32, int64, Decimal128(15,2), date32, utf8.
func writeTinyParquet(t *testing.T, dir string) {
	t.Helper()
	mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
	defer mem.AssertSize(t, 0)
	schema := arrow.NewSchema([]arrow.Field{
		{Name: "k", Type: arrow.PrimitiveTypes.Int32},
		{Name: "ok", Type: arrow.PrimitiveTypes.Int64},
		{Name: "price", Type: &arrow.Decimal128Type{Precision: 15, Scale: 2}},
		{Name: "d", Type: arrow.FixedWidthTypes.Date32},
		{Name: "s", Type: arrow.BinaryTypes.String, Nullable: true},
	}, nil)
	b := array.NewRecordBuilder(mem, schema)
	defer b.Release()
	day := func(y int, m time.Month, d int) arrow.Date32 {
		return arrow.Date32FromTime(time.Date(y, m, d, 0, 0, 0, 0, time.UTC))
	}
	b.Field(0).(*array.Int32Builder).AppendValues([]int32{1, 2, 3}, nil)
	b.Field(1).(*array.Int64Builder).AppendValues([]int64{10, 20, 6000000000}, nil)
	b.Field(2).(*array.Decimal128Builder).AppendValues([]decimal128.Num{
		decimal128.FromI64(1250), decimal128.FromI64(-7), decimal128.FromI64(99999),
	}, nil)
	b.Field(3).(*array.Date32Builder).AppendValues([]arrow.Date32{
		day(1995, 3, 15), day(1998, 12, 1), day(1992, 1, 2),
	}, nil)
	b.Field(4).(*array.StringBuilder).AppendValues([]string{"BUILDING", "", "x,y"}, []bool{true, false, true})
	rec := b.NewRecordBatch()
	defer rec.Release()
	tbl := array.NewTableFromRecords(schema, []arrow.RecordBatch{rec})
	defer tbl.Release()

	f, err := os.Create(filepath.Join(dir, "t.parquet"))
	if err != nil {
		t.Fatal(err)
	}
	props := parquet.NewWriterProperties(parquet.WithAllocator(mem))
	if err := pqarrow.WriteTable(tbl, f, 1024, props, pqarrow.NewArrowWriterProperties(pqarrow.WithAllocator(mem))); err != nil {
		t.Fatal(err)
	}
	f.Close() // pqarrow.WriteTable already closed it
}

func TestDuckDBReadsArrowParquet(t *testing.T) {
	dir := t.TempDir()
	writeTinyParquet(t, dir)
	ctx := context.Background()
	db, err := OpenDuckDB(ctx, dir, []string{"t"}, 2)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()

	// A multi-statement script like TPC-H Q15: the result is that of the
	// statement returning rows; the view exists only inside the script.
	script := `
create view v (key, price2, sum_all) as
	select k, price * 2, sum(price) over () from t;
select t.k, t.ok, t.price, v.price2, v.sum_all, t.d, t.s,
	count(*) over () as cnt, sum(t.ok) over () as sum_ok, avg(t.price) over () as avg_price
from t join v on t.k = v.key
order by t.k;
drop view v;
`
	res, err := RunDuckDB(ctx, db, script)
	if err != nil {
		t.Fatal(err)
	}
	wantTypes := []string{"INTEGER", "BIGINT", "DECIMAL(15,2)", "DECIMAL(18,2)", "DECIMAL(38,2)", "DATE", "VARCHAR", "BIGINT", "HUGEINT", "DOUBLE"}
	if strings.Join(res.Types, " ") != strings.Join(wantTypes, " ") {
		t.Errorf("types %v, want %v", res.Types, wantTypes)
	}
	if _, ok := res.Rows[0][2].(duckdb.Decimal); !ok {
		t.Errorf("decimal came back as %T", res.Rows[0][2])
	}
	if _, ok := res.Rows[0][5].(time.Time); !ok {
		t.Errorf("date came back as %T", res.Rows[0][5])
	}

	// What a correct Bellows would print.
	good := "k,ok,price,price2,sum_all,d,s,cnt,sum_ok,avg_price\n" +
		"1,10,12.50,25.00,1012.42,1995-03-15,BUILDING,3,6000000030,337.4733333333\n" +
		"2,20,-0.07,-0.14,1012.42,1998-12-01,,3,6000000030,337.4733333333\n" +
		"3,6000000000,999.99,1999.98,1012.42,1992-01-02,\"x,y\",3,6000000030,337.4733333333\n"
	gotCSV, err := ParseCSV([]byte(good))
	if err != nil {
		t.Fatal(err)
	}
	if err := CompareResults(gotCSV, res); err != nil {
		t.Fatalf("expected match:\n%v\nduckdb rows: %q", err, ResultToCSVRows(res))
	}
	for _, bad := range []string{
		strings.Replace(good, "1995-03-15", "1995-03-16", 1),
		strings.Replace(good, "12.50,25.00", "12.50,25.10", 1),
		strings.Replace(good, "\"x,y\"", "\"x, y\"", 1),
		strings.Replace(good, "1998-12-01,,", "1998-12-01,0,", 1),
	} {
		c, err := ParseCSV([]byte(bad))
		if err != nil {
			t.Fatal(err)
		}
		if CompareResults(c, res) == nil {
			t.Errorf("mismatch not detected for:\n%s", bad)
		}
	}

	// The view was dropped by the script.
	if _, err := RunDuckDB(ctx, db, "select * from v"); err == nil {
		t.Error("view v should have been dropped")
	}
}
