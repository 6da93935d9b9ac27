package server

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	dbsql "database/sql"
	"encoding/pem"
	"fmt"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/decimal128"
	"github.com/apache/arrow-go/v18/arrow/flight"
	"github.com/apache/arrow-go/v18/arrow/flight/flightsql"
	_ "github.com/apache/arrow-go/v18/arrow/flight/flightsql/driver"
	"github.com/apache/arrow-go/v18/arrow/memory"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"

	"github.com/bellows-db/bellows"
	"github.com/bellows-db/bellows/kernels"
	"github.com/bellows-db/bellows/tpch"
)

// testServer is a real server on a loopback port over a fresh DB.
type testServer struct {
	db   *bellows.DB
	srv  *Server
	addr string
}

func startServer(t testing.TB, cfg Config, dbOpts bellows.Options) *testServer {
	t.Helper()
	db, err := bellows.Open(dbOpts)
	if err != nil {
		t.Fatal(err)
	}
	srv, err := New(db, cfg)
	if err != nil {
		t.Fatal(err)
	}
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- srv.Serve(lis) }()
	t.Cleanup(func() {
		srv.Stop()
		if err := <-done; err != nil {
			t.Errorf("Serve: %v", err)
		}
		db.Close()
	})
	return &testServer{db: db, srv: srv, addr: lis.Addr().String()}
}

func (ts *testServer) client(t testing.TB, opts ...grpc.DialOption) *flightsql.Client {
	t.Helper()
	if len(opts) == 0 {
		opts = []grpc.DialOption{grpc.WithTransportCredentials(insecure.NewCredentials())}
	}
	c, err := flightsql.NewClient(ts.addr, nil, nil, opts...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// fetch runs the info's tickets and renders every row as "a|b|c".
func fetch(ctx context.Context, c *flightsql.Client, info *flight.FlightInfo) ([]string, *arrow.Schema, error) {
	var out []string
	var schema *arrow.Schema
	for _, ep := range info.Endpoint {
		rdr, err := c.DoGet(ctx, ep.Ticket)
		if err != nil {
			return nil, nil, err
		}
		schema = rdr.Schema()
		for rdr.Next() {
			out = append(out, render(rdr.RecordBatch())...)
		}
		err = rdr.Err()
		rdr.Release()
		if err != nil {
			return nil, nil, err
		}
	}
	return out, schema, nil
}

func render(b arrow.RecordBatch) []string {
	var out []string
	for i := 0; i < int(b.NumRows()); i++ {
		var cells []string
		for c := 0; c < int(b.NumCols()); c++ {
			col := b.Column(c)
			typ, err := kernels.FromArrow(col.DataType())
			if err != nil {
				cells = append(cells, col.ValueStr(i))
				continue
			}
			cells = append(cells, kernels.ValueAt(col, typ, i).Format(typ))
		}
		out = append(out, strings.Join(cells, "|"))
	}
	return out
}

func query(t *testing.T, c *flightsql.Client, q string) []string {
	t.Helper()
	ctx := context.Background()
	info, err := c.Execute(ctx, q)
	if err != nil {
		t.Fatalf("%s: %v", q, err)
	}
	rows, _, err := fetch(ctx, c, info)
	if err != nil {
		t.Fatalf("%s: %v", q, err)
	}
	return rows
}

func wantCode(t *testing.T, err error, code codes.Code, what string) {
	t.Helper()
	if status.Code(err) != code {
		t.Fatalf("%s: got %v (code %s), want code %s", what, err, status.Code(err), code)
	}
}

// TestStatementsAndUpdates runs DDL/DML with row counts, queries, errors
// and per-connection settings through the Flight SQL client.
func TestStatementsAndUpdates(t *testing.T) {
	ts := startServer(t, Config{}, bellows.Options{})
	c := ts.client(t)
	ctx := context.Background()
	for _, u := range []struct {
		sql  string
		want int64
	}{
		{"CREATE TABLE t (a INTEGER, b TEXT, d DECIMAL(10,2))", 0},
		{"INSERT INTO t VALUES (1, 'one', 1.50), (2, NULL, NULL), (3, 'three', -3.25)", 3},
		{"INSERT INTO t SELECT a + 10, b, d FROM t WHERE a >= 2", 2},
		{"CREATE VIEW v AS SELECT a, b FROM t WHERE b IS NOT NULL", 0},
	} {
		n, err := c.ExecuteUpdate(ctx, u.sql)
		if err != nil {
			t.Fatalf("%s: %v", u.sql, err)
		}
		if n != u.want {
			t.Errorf("%s: %d rows, want %d", u.sql, n, u.want)
		}
	}
	got := query(t, c, "SELECT a, b, d FROM t ORDER BY a")
	want := []string{"1|one|1.50", "2|NULL|NULL", "3|three|-3.25", "12|NULL|NULL", "13|three|-3.25"}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Fatalf("got %v, want %v", got, want)
	}
	if got := query(t, c, "SELECT count(*) FROM v"); got[0] != "3" {
		t.Fatalf("view: %v", got)
	}
	// Errors: bad SQL at planning, a runtime error while streaming.
	_, err := c.Execute(ctx, "SELECT nope FROM t")
	wantCode(t, err, codes.InvalidArgument, "unknown column")
	if !strings.Contains(err.Error(), "nope") {
		t.Errorf("error does not name the column: %v", err)
	}
	info, err := c.Execute(ctx, "SELECT 1 / (a - a) FROM t")
	if err != nil {
		t.Fatal(err)
	}
	_, _, err = fetch(ctx, c, info)
	wantCode(t, err, codes.InvalidArgument, "division by zero")
	// A ticket is good for one fetch.
	info, err = c.Execute(ctx, "SELECT 1")
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := fetch(ctx, c, info); err != nil {
		t.Fatal(err)
	}
	_, _, err = fetch(ctx, c, info)
	wantCode(t, err, codes.NotFound, "second fetch of a ticket")

	// Settings belong to the connection.
	c2 := ts.client(t)
	if _, err := c.ExecuteUpdate(ctx, "SET parallelism = 3"); err != nil {
		t.Fatal(err)
	}
	if _, err := c2.ExecuteUpdate(ctx, "SET parallelism = 1"); err != nil {
		t.Fatal(err)
	}
	if got := query(t, c, "SHOW parallelism"); got[0] != "3" {
		t.Errorf("connection 1: parallelism %v, want 3", got)
	}
	if got := query(t, c2, "SHOW parallelism"); got[0] != "1" {
		t.Errorf("connection 2: parallelism %v, want 1", got)
	}
	if n := ts.srv.Sessions(); n != 2 {
		t.Errorf("%d sessions, want 2", n)
	}
	c2.Close()
	waitFor(t, "the closed connection's session to go", func() bool { return ts.srv.Sessions() == 1 })
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// TestPreparedStatementsAllTypes binds parameters of every supported type,
// NULL included, to prepared updates and queries.
func TestPreparedStatementsAllTypes(t *testing.T) {
	ts := startServer(t, Config{}, bellows.Options{})
	c := ts.client(t)
	ctx := context.Background()
	if _, err := c.ExecuteUpdate(ctx, "CREATE TABLE p (i INTEGER, s SMALLINT, b BIGINT, f DOUBLE PRECISION, r REAL, d DECIMAL(12,2), t TEXT, dt DATE, ts TIMESTAMP, ok BOOLEAN)"); err != nil {
		t.Fatal(err)
	}
	ins, err := c.Prepare(ctx, "INSERT INTO p VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)")
	if err != nil {
		t.Fatal(err)
	}
	defer ins.Close(ctx)
	if upd, ok := ins.IsUpdate(); !ok || !upd {
		t.Errorf("INSERT: IsUpdate %v %v", upd, ok)
	}
	mem := memory.NewGoAllocator()
	schema := arrow.NewSchema([]arrow.Field{
		{Name: "i", Type: arrow.PrimitiveTypes.Int32, Nullable: true},
		{Name: "s", Type: arrow.PrimitiveTypes.Int16, Nullable: true},
		{Name: "b", Type: arrow.PrimitiveTypes.Int64, Nullable: true},
		{Name: "f", Type: arrow.PrimitiveTypes.Float64, Nullable: true},
		{Name: "r", Type: arrow.PrimitiveTypes.Float32, Nullable: true},
		{Name: "d", Type: &arrow.Decimal128Type{Precision: 12, Scale: 2}, Nullable: true},
		{Name: "t", Type: arrow.BinaryTypes.String, Nullable: true},
		{Name: "dt", Type: arrow.FixedWidthTypes.Date32, Nullable: true},
		{Name: "ts", Type: &arrow.TimestampType{Unit: arrow.Microsecond}, Nullable: true},
		{Name: "ok", Type: arrow.FixedWidthTypes.Boolean, Nullable: true},
	}, nil)
	b := array.NewRecordBuilder(mem, schema)
	defer b.Release()
	// Two parameter rows in one batch: the statement runs once per row.
	b.Field(0).(*array.Int32Builder).AppendValues([]int32{1, 2}, nil)
	b.Field(1).(*array.Int16Builder).AppendValues([]int16{-7, 0}, []bool{true, false})
	b.Field(2).(*array.Int64Builder).AppendValues([]int64{1 << 40, 0}, []bool{true, false})
	b.Field(3).(*array.Float64Builder).AppendValues([]float64{2.5, 0}, []bool{true, false})
	b.Field(4).(*array.Float32Builder).AppendValues([]float32{0.25, 0}, []bool{true, false})
	b.Field(5).(*array.Decimal128Builder).AppendValues([]decimal128.Num{decimal128.FromI64(1225), {}}, []bool{true, false})
	b.Field(6).(*array.StringBuilder).AppendValues([]string{"héllo", ""}, []bool{true, false})
	b.Field(7).(*array.Date32Builder).AppendValues([]arrow.Date32{19782, 0}, []bool{true, false})
	b.Field(8).(*array.TimestampBuilder).AppendValues([]arrow.Timestamp{1_700_000_000_123_456, 0}, []bool{true, false})
	b.Field(9).(*array.BooleanBuilder).AppendValues([]bool{true, false}, []bool{true, false})
	rec := b.NewRecordBatch()
	defer rec.Release()
	ins.SetParameters(rec)
	n, err := ins.ExecuteUpdate(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if n != 2 {
		t.Fatalf("prepared insert of 2 rows reported %d", n)
	}
	sel, err := c.Prepare(ctx, "SELECT i, s, b, f, r, d, t, dt, ts, ok FROM p WHERE i >= $1 ORDER BY i")
	if err != nil {
		t.Fatal(err)
	}
	defer sel.Close(ctx)
	if sel.DatasetSchema() == nil || sel.DatasetSchema().NumFields() != 10 {
		t.Fatalf("dataset schema %v", sel.DatasetSchema())
	}
	for _, c0 := range []struct {
		param arrow.Array
		want  []string
	}{
		{intArray(mem, 1), []string{
			"1|-7|1099511627776|2.5|0.25|12.25|héllo|2024-02-29|2023-11-14 22:13:20.123456|true",
			"2|NULL|NULL|NULL|NULL|NULL|NULL|NULL|NULL|NULL"}},
		{intArray(mem, 2), []string{"2|NULL|NULL|NULL|NULL|NULL|NULL|NULL|NULL|NULL"}},
		{array.MakeArrayOfNull(mem, arrow.PrimitiveTypes.Int64, 1), nil},
	} {
		pb := array.NewRecordBatch(arrow.NewSchema([]arrow.Field{{Name: "$1", Type: c0.param.DataType(), Nullable: true}}, nil), []arrow.Array{c0.param}, 1)
		sel.SetParameters(pb)
		info, err := sel.Execute(ctx)
		if err != nil {
			t.Fatal(err)
		}
		got, _, err := fetch(ctx, c, info)
		if err != nil {
			t.Fatal(err)
		}
		if strings.Join(got, "\n") != strings.Join(c0.want, "\n") {
			t.Errorf("i >= %s: got %v, want %v", c0.param, got, c0.want)
		}
		pb.Release()
		c0.param.Release()
	}
	// An interval parameter (Arrow month-day-nano), in an expression.
	iv, err := c.Prepare(ctx, "SELECT DATE '2024-01-31' + $1")
	if err != nil {
		t.Fatal(err)
	}
	ib := array.NewMonthDayNanoIntervalBuilder(mem)
	ib.Append(arrow.MonthDayNanoInterval{Months: 1, Days: 2})
	ia := ib.NewArray()
	ib.Release()
	ipb := array.NewRecordBatch(arrow.NewSchema([]arrow.Field{{Name: "$1", Type: ia.DataType(), Nullable: true}}, nil), []arrow.Array{ia}, 1)
	iv.SetParameters(ipb)
	info, err := iv.Execute(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if got, _, err := fetch(ctx, c, info); err != nil || len(got) != 1 || got[0] != "2024-03-02 00:00:00" {
		t.Errorf("date + interval parameter: %v %v", got, err)
	}
	ipb.Release()
	ia.Release()
	iv.Close(ctx)
	// A closed handle is refused.
	bad, err := c.Prepare(ctx, "SELECT 1")
	if err != nil {
		t.Fatal(err)
	}
	handle := bad.Handle()
	if err := bad.Close(ctx); err != nil {
		t.Fatal(err)
	}
	stale, err := c.LoadPreparedStatementFromResult(&flightsql.CreatePreparedStatementResult{PreparedStatementHandle: handle})
	if err != nil {
		t.Fatal(err)
	}
	_, err = stale.Execute(ctx)
	wantCode(t, err, codes.NotFound, "a closed prepared statement")
	_, err = c.ExecuteUpdate(ctx, "SELECT 1") // a query through the update path runs too
	if err != nil {
		t.Fatal(err)
	}
}

func intArray(mem memory.Allocator, v int32) arrow.Array {
	b := array.NewInt32Builder(mem)
	defer b.Release()
	b.Append(v)
	return b.NewArray()
}

// TestDatabaseSQL uses the flightsql database/sql driver: plain Exec,
// Query, and the prepared path its arguments take.
func TestDatabaseSQL(t *testing.T) {
	ts := startServer(t, Config{}, bellows.Options{})
	db, err := dbsql.Open("flightsql", "flightsql://"+ts.addr+"?timeout=20s")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if _, err := db.Exec("CREATE TABLE kv (k INTEGER, v TEXT, at TIMESTAMP)"); err != nil {
		t.Fatal(err)
	}
	at := time.Date(2025, 5, 6, 7, 8, 9, 0, time.UTC)
	res, err := db.Exec("INSERT INTO kv VALUES ($1, $2, $3)", int64(1), "a", at)
	if err != nil {
		t.Fatal(err)
	}
	if n, err := res.RowsAffected(); err != nil || n != 1 {
		t.Fatalf("rows affected %d, %v", n, err)
	}
	// arrow-go's driver cannot send a nil argument (it has no Arrow type
	// for it); NULL parameters are covered with the Flight SQL client.
	if _, err := db.Exec("INSERT INTO kv VALUES ($1, NULL, NULL)", int64(2)); err != nil {
		t.Fatal(err)
	}
	res, err = db.Exec("INSERT INTO kv SELECT k + 10, v, at FROM kv")
	if err != nil {
		t.Fatal(err)
	}
	if n, _ := res.RowsAffected(); n != 2 {
		t.Fatalf("INSERT ... SELECT: %d rows", n)
	}
	rows, err := db.Query("SELECT k, v, at FROM kv WHERE k > $1 ORDER BY k", int64(1))
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for rows.Next() {
		var k int32
		var v dbsql.NullString
		var ts dbsql.NullTime
		if err := rows.Scan(&k, &v, &ts); err != nil {
			t.Fatal(err)
		}
		got = append(got, fmt.Sprintf("%d %v %v", k, v, ts.Time.UTC().Format(time.RFC3339)))
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	rows.Close()
	want := []string{"2 { false} 0001-01-01T00:00:00Z", "11 {a true} 2025-05-06T07:08:09Z", "12 { false} 0001-01-01T00:00:00Z"}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Fatalf("got\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	var cnt int64
	if err := db.QueryRow("SELECT count(*) FROM kv").Scan(&cnt); err != nil || cnt != 4 {
		t.Fatalf("count %d, %v", cnt, err)
	}
}

// TestMetadata checks the catalog calls against what CREATE made.
func TestMetadata(t *testing.T) {
	ts := startServer(t, Config{}, bellows.Options{})
	c := ts.client(t)
	ctx := context.Background()
	for _, q := range []string{"CREATE TABLE orders (id BIGINT, total DECIMAL(12,2))", "CREATE TABLE order_lines (id BIGINT, qty INTEGER)", "CREATE VIEW big AS SELECT * FROM orders WHERE total > 100"} {
		if _, err := c.ExecuteUpdate(ctx, q); err != nil {
			t.Fatal(err)
		}
	}
	get := func(info *flight.FlightInfo, err error) []string {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
		rows, _, err := fetch(ctx, c, info)
		if err != nil {
			t.Fatal(err)
		}
		return rows
	}
	if got := get(c.GetCatalogs(ctx)); strings.Join(got, ",") != "bellows" {
		t.Errorf("catalogs %v", got)
	}
	if got := get(c.GetDBSchemas(ctx, &flightsql.GetDBSchemasOpts{})); strings.Join(got, ",") != "bellows|public" {
		t.Errorf("schemas %v", got)
	}
	if got := get(c.GetTableTypes(ctx)); strings.Join(got, ",") != "TABLE,VIEW" {
		t.Errorf("table types %v", got)
	}
	pat := "order%"
	got := get(c.GetTables(ctx, &flightsql.GetTablesOpts{TableNameFilterPattern: &pat}))
	if strings.Join(got, ",") != "bellows|public|order_lines|TABLE,bellows|public|orders|TABLE" {
		t.Errorf("tables like order%%: %v", got)
	}
	got = get(c.GetTables(ctx, &flightsql.GetTablesOpts{TableTypes: []string{"VIEW"}}))
	if strings.Join(got, ",") != "bellows|public|big|VIEW" {
		t.Errorf("views: %v", got)
	}
	info, err := c.GetTables(ctx, &flightsql.GetTablesOpts{IncludeSchema: true, TableNameFilterPattern: ptr("orders")})
	if err != nil {
		t.Fatal(err)
	}
	rdr, err := c.DoGet(ctx, info.Endpoint[0].Ticket)
	if err != nil {
		t.Fatal(err)
	}
	if !rdr.Next() || rdr.RecordBatch().NumRows() != 1 {
		t.Fatal("no row for orders")
	}
	sc, err := flight.DeserializeSchema(rdr.RecordBatch().Column(4).(*array.Binary).Value(0), memory.DefaultAllocator)
	if err != nil {
		t.Fatal(err)
	}
	if sc.NumFields() != 2 || sc.Field(0).Name != "id" || sc.Field(1).Type.String() != "decimal(12, 2)" {
		t.Errorf("orders schema %s", sc)
	}
	rdr.Release()
	if got := get(c.GetTables(ctx, &flightsql.GetTablesOpts{Catalog: ptr("other")})); len(got) != 0 {
		t.Errorf("tables of another catalog: %v", got)
	}
	ref := flightsql.TableRef{Table: "orders"}
	for name, f := range map[string]func() (*flight.FlightInfo, error){
		"primary keys":  func() (*flight.FlightInfo, error) { return c.GetPrimaryKeys(ctx, ref) },
		"exported keys": func() (*flight.FlightInfo, error) { return c.GetExportedKeys(ctx, ref) },
		"imported keys": func() (*flight.FlightInfo, error) { return c.GetImportedKeys(ctx, ref) },
	} {
		if got := get(f()); len(got) != 0 {
			t.Errorf("%s: %v", name, got)
		}
	}
	types := get(c.GetXdbcTypeInfo(ctx, nil))
	if len(types) < 10 || !strings.HasPrefix(types[0], "bigint|-5|") {
		t.Errorf("type info: %v", types)
	}
	dt := int32(16)
	if got := get(c.GetXdbcTypeInfo(ctx, &dt)); len(got) != 1 || !strings.HasPrefix(got[0], "boolean|") {
		t.Errorf("type info for boolean: %v", got)
	}
	infoRows := get(c.GetSqlInfo(ctx, []flightsql.SqlInfo{flightsql.SqlInfoFlightSqlServerName, flightsql.SqlInfoFlightSqlServerVersion, flightsql.SqlInfoFlightSqlServerCancel}))
	joined := strings.Join(infoRows, "\n")
	if !strings.Contains(joined, "Bellows") || !strings.Contains(joined, Version) || len(infoRows) != 3 {
		t.Errorf("sql info: %v", infoRows)
	}
}

func ptr(s string) *string { return &s }

// cpuTime returns the process's user + system CPU time.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// TestCancel cancels a long query while it streams: the client's stream
// ends with Cancelled and the process's CPU use stops within 100 ms.
func TestCancel(t *testing.T) {
	dir := t.TempDir()
	if err := tpch.Generate(context.Background(), tpch.GenOptions{SF: 0.01, OutDir: dir}); err != nil {
		t.Fatal(err)
	}
	ts := startServer(t, Config{}, bellows.Options{Parallelism: 2})
	if err := ts.db.RegisterDir(dir); err != nil {
		t.Fatal(err)
	}
	c := ts.client(t)
	ctx := context.Background()
	for _, how := range []string{"CancelFlightInfo", "CancelQuery"} {
		t.Run(how, func(t *testing.T) {
			// A cross join: minutes of work, no rows until the end.
			info, err := c.Execute(ctx, "SELECT count(*) FROM lineitem a, lineitem b WHERE a.l_quantity + b.l_quantity > 1000")
			if err != nil {
				t.Fatal(err)
			}
			errc := make(chan error, 1)
			go func() { _, _, err := fetch(ctx, c, info); errc <- err }()
			waitFor(t, "the query to start", func() bool { return len(ts.db.Running()) == 1 })
			time.Sleep(100 * time.Millisecond) // let it burn CPU
			if how == "CancelFlightInfo" {
				res, err := c.CancelFlightInfo(ctx, &flight.CancelFlightInfoRequest{Info: info})
				if err != nil || res.Status != flight.CancelStatusCancelled {
					t.Fatalf("cancel: %v %v", res, err)
				}
			} else {
				res, err := c.CancelQuery(ctx, info)
				if err != nil || res != flightsql.CancelResultCancelled {
					t.Fatalf("cancel: %v %v", res, err)
				}
			}
			t0 := time.Now()
			waitFor(t, "the query to stop", func() bool { return len(ts.db.Running()) == 0 })
			if d := time.Since(t0); d > 100*time.Millisecond {
				t.Errorf("the query ran %s after the cancel", d)
			}
			c0 := cpuTime()
			time.Sleep(200 * time.Millisecond)
			if used := cpuTime() - c0; used > 40*time.Millisecond {
				t.Errorf("%s of CPU used in the 200 ms after the query stopped", used)
			}
			err = <-errc
			wantCode(t, err, codes.Canceled, "the cancelled stream")
		})
	}
}

// TestAuth checks basic and bearer authentication and refusals.
func TestAuth(t *testing.T) {
	users := NewUsers()
	users.AddPassword("alice", "s3cret")
	users.AddToken("ci", "static-token-0123")
	ts := startServer(t, Config{Users: users}, bellows.Options{})
	ctx := context.Background()
	c := ts.client(t)
	_, err := c.Execute(ctx, "SELECT 1")
	wantCode(t, err, codes.Unauthenticated, "no credentials")
	if _, err := c.Client.AuthenticateBasicToken(ctx, "alice", "wrong"); status.Code(err) != codes.Unauthenticated {
		t.Fatalf("wrong password: %v", err)
	}
	if _, err := c.Client.AuthenticateBasicToken(ctx, "bob", "s3cret"); status.Code(err) != codes.Unauthenticated {
		t.Fatalf("unknown user: %v", err)
	}
	authCtx, err := c.Client.AuthenticateBasicToken(ctx, "alice", "s3cret")
	if err != nil {
		t.Fatal(err)
	}
	md, _ := metadata.FromOutgoingContext(authCtx)
	if v := md.Get("authorization"); len(v) != 1 || !strings.HasPrefix(v[0], "Bearer ") {
		t.Fatalf("no bearer token after login: %v", md)
	}
	info, err := c.Execute(authCtx, "SELECT 41 + 1")
	if err != nil {
		t.Fatal(err)
	}
	if rows, _, err := fetch(authCtx, c, info); err != nil || rows[0] != "42" {
		t.Fatalf("with the token: %v %v", rows, err)
	}
	bad := metadata.AppendToOutgoingContext(ctx, "authorization", "Bearer not-a-token")
	_, err = c.Execute(bad, "SELECT 1")
	wantCode(t, err, codes.Unauthenticated, "bad token")
	static := metadata.AppendToOutgoingContext(ctx, "authorization", "Bearer static-token-0123")
	if _, err := c.Execute(static, "SELECT 1"); err != nil {
		t.Fatalf("static token: %v", err)
	}
	// database/sql sends the password on every call.
	db, err := dbsql.Open("flightsql", "flightsql://alice:s3cret@"+ts.addr)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var n int64
	if err := db.QueryRow("SELECT 7").Scan(&n); err != nil || n != 7 {
		t.Fatalf("database/sql with basic auth: %d %v", n, err)
	}
	db2, _ := dbsql.Open("flightsql", "flightsql://alice:nope@"+ts.addr)
	defer db2.Close()
	if err := db2.QueryRow("SELECT 7").Scan(&n); err == nil {
		t.Fatal("database/sql with a wrong password succeeded")
	}
}

// TestLoadUsers reads a users file and reports a bad line with its number.
func TestLoadUsers(t *testing.T) {
	dir := t.TempDir()
	good := filepath.Join(dir, "users")
	os.WriteFile(good, []byte("# users\nuser alice password s3cret\n\ntoken ci abc\n"), 0o600)
	u, err := LoadUsers(good)
	if err != nil {
		t.Fatal(err)
	}
	if u.passwords["alice"] != "s3cret" || u.tokens["abc"] != "ci" {
		t.Fatalf("loaded %+v", u)
	}
	bad := filepath.Join(dir, "bad")
	os.WriteFile(bad, []byte("user alice password s3cret\nuser bob s3cret\n"), 0o600)
	if _, err := LoadUsers(bad); err == nil || !strings.Contains(err.Error(), bad+":2:") {
		t.Fatalf("bad file: %v", err)
	}
}

// TestTLS serves over TLS with a self-signed certificate.
func TestTLS(t *testing.T) {
	certPEM, keyPEM := selfSigned(t)
	dir := t.TempDir()
	certFile, keyFile := filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	os.WriteFile(certFile, certPEM, 0o600)
	os.WriteFile(keyFile, keyPEM, 0o600)
	cfg, err := LoadTLS(certFile, keyFile)
	if err != nil {
		t.Fatal(err)
	}
	ts := startServer(t, Config{TLS: cfg}, bellows.Options{})
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(certPEM)
	c := ts.client(t, grpc.WithTransportCredentials(credentials.NewTLS(&tls.Config{RootCAs: pool, ServerName: "localhost"})))
	if got := query(t, c, "SELECT 'secure'"); got[0] != "secure" {
		t.Fatalf("over TLS: %v", got)
	}
	// A plaintext client is refused.
	plain := ts.client(t)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	if _, err := plain.Execute(ctx, "SELECT 1"); err == nil {
		t.Fatal("a plaintext client got through a TLS server")
	}
}

func selfSigned(t *testing.T) (certPEM, keyPEM []byte) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "localhost"},
		DNSNames: []string{"localhost"}, IPAddresses: []net.IP{net.ParseIP("127.0.0.1")},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	kder, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	return pemBlock("CERTIFICATE", der), pemBlock("EC PRIVATE KEY", kder)
}

// TestBadClients sends malformed tickets, unknown handles and an oversized
// message, and drops a connection in the middle of a stream: each gets a
// clean error and the server's goroutines return to their baseline.
func TestBadClients(t *testing.T) {
	ts := startServer(t, Config{MaxMessageBytes: 1 << 20}, bellows.Options{Parallelism: 2})
	ctx := context.Background()
	base := runtime.NumGoroutine()
	c := ts.client(t)
	digits := "(VALUES (0),(1),(2),(3),(4),(5),(6),(7),(8),(9))"
	if _, err := c.ExecuteUpdate(ctx, "CREATE TABLE big AS SELECT a.x * 1000 + b.x * 100 + c.x * 10 + d.x AS i, '"+strings.Repeat("x", 100)+"' AS pad FROM "+
		digits+" AS a(x), "+digits+" AS b(x), "+digits+" AS c(x), "+digits+" AS d(x)"); err != nil {
		t.Fatal(err)
	}
	// Malformed tickets and unknown handles.
	for name, tkt := range map[string][]byte{
		"garbage":        []byte("\xff\x00not a protobuf"),
		"empty":          nil,
		"unknown handle": mustTicket(t, "0123456789abcdef"),
	} {
		rdr, err := c.DoGet(ctx, &flight.Ticket{Ticket: tkt})
		if err == nil {
			for rdr.Next() {
			}
			err = rdr.Err()
			rdr.Release()
		}
		if err == nil || (status.Code(err) != codes.InvalidArgument && status.Code(err) != codes.NotFound) {
			t.Errorf("%s ticket: %v", name, err)
		}
	}
	if _, err := c.Client.GetFlightInfo(ctx, &flight.FlightDescriptor{Type: flight.DescriptorCMD, Cmd: []byte("junk")}); status.Code(err) != codes.InvalidArgument {
		t.Errorf("junk command: %v", err)
	}
	// An oversized message.
	_, err := c.Execute(ctx, "SELECT '"+strings.Repeat("a", 2<<20)+"'")
	wantCode(t, err, codes.ResourceExhausted, "oversized message")
	// Abrupt disconnects in the middle of streams.
	for i := 0; i < 3; i++ {
		conn := ts.client(t)
		info, err := conn.Execute(ctx, "SELECT a.i, a.pad FROM big a, big b WHERE b.i < 500")
		if err != nil {
			t.Fatal(err)
		}
		rdr, err := conn.DoGet(ctx, info.Endpoint[0].Ticket)
		if err != nil {
			t.Fatal(err)
		}
		if !rdr.Next() {
			t.Fatalf("no first batch: %v", rdr.Err())
		}
		conn.Close() // without reading on or releasing anything
	}
	waitFor(t, "the dropped streams' queries to stop", func() bool { return len(ts.db.Running()) == 0 })
	c.Close()
	waitFor(t, "every session to close", func() bool { return ts.srv.Sessions() == 0 })
	var now int
	deadline := time.Now().Add(5 * time.Second)
	for {
		now = runtime.NumGoroutine()
		if now <= base+2 || time.Now().After(deadline) {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	if now > base+2 {
		buf := make([]byte, 1<<20)
		n := runtime.Stack(buf, true)
		t.Fatalf("%d goroutines, baseline %d:\n%s", now, base, buf[:n])
	}
}

func mustTicket(t *testing.T, handle string) []byte {
	t.Helper()
	b, err := flightsql.CreateStatementQueryTicket([]byte(handle))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func pemBlock(typ string, der []byte) []byte {
	return pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der})
}

// TestSessionOptions sets and reads settings through Flight's session
// option calls; they are the SET / SHOW settings of the connection.
func TestSessionOptions(t *testing.T) {
	ts := startServer(t, Config{}, bellows.Options{Parallelism: 2})
	c := ts.client(t)
	ctx := context.Background()
	opts, err := flight.NewSessionOptionValues(map[string]any{"parallelism": int64(3), "statement_timeout": "2s", "nonsense": "x"})
	if err != nil {
		t.Fatal(err)
	}
	res, err := c.SetSessionOptions(ctx, &flight.SetSessionOptionsRequest{SessionOptions: opts})
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Errors) != 1 || res.Errors["nonsense"].GetValue() != flight.SetSessionOptionsResultErrorInvalidName {
		t.Fatalf("errors %v", res.Errors)
	}
	bad, _ := flight.NewSessionOptionValues(map[string]any{"parallelism": "many"})
	res, err = c.SetSessionOptions(ctx, &flight.SetSessionOptionsRequest{SessionOptions: bad})
	if err != nil || res.Errors["parallelism"].GetValue() != flight.SetSessionOptionsResultErrorInvalidValue {
		t.Fatalf("bad value: %v %v", res, err)
	}
	if got := query(t, c, "SHOW parallelism"); got[0] != "3" {
		t.Errorf("SHOW parallelism after SetSessionOptions: %v", got)
	}
	got, err := c.GetSessionOptions(ctx, &flight.GetSessionOptionsRequest{})
	if err != nil {
		t.Fatal(err)
	}
	if v := got.SessionOptions["statement_timeout"].GetStringValue(); v != "2s" {
		t.Errorf("statement_timeout %q", v)
	}
	if _, err := c.CloseSession(ctx, &flight.CloseSessionRequest{}); err != nil {
		t.Fatal(err)
	}
	if got := query(t, c, "SHOW parallelism"); got[0] != "2" {
		t.Errorf("SHOW parallelism after CloseSession: %v, want the default 2", got)
	}
}
