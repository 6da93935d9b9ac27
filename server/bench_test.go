package server

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"
	"github.com/apache/arrow-go/v18/parquet"
	"github.com/apache/arrow-go/v18/parquet/pqarrow"

	"github.com/bellows-db/bellows"
)

// BenchmarkStreamThroughput measures result streaming over loopback gRPC:
// a scan of a 2-million-row Parquet table (bigint + 30-byte text) fetched
// with the Flight SQL client. MB/s counts the result's Arrow bytes
// (values and offsets).
func BenchmarkStreamThroughput(b *testing.B) {
	const rows = 2_000_000
	dir := b.TempDir()
	size := writeRows(b, filepath.Join(dir, "t.parquet"), rows)
	ts := startServer(b, Config{}, bellows.Options{Allocator: bellows.PooledAllocator()})
	if err := ts.db.RegisterDir(dir); err != nil {
		b.Fatal(err)
	}
	c := ts.client(b)
	ctx := context.Background()
	b.SetBytes(size)
	b.ResetTimer()
	for range b.N {
		info, err := c.Execute(ctx, "SELECT i, s FROM t")
		if err != nil {
			b.Fatal(err)
		}
		rdr, err := c.DoGet(ctx, info.Endpoint[0].Ticket)
		if err != nil {
			b.Fatal(err)
		}
		n := int64(0)
		for rdr.Next() {
			n += rdr.RecordBatch().NumRows()
		}
		if err := rdr.Err(); err != nil {
			b.Fatal(err)
		}
		rdr.Release()
		if n != rows {
			b.Fatalf("%d rows, want %d", n, rows)
		}
	}
}

// writeRows writes rows rows of (i bigint, s text) and returns their size
// as Arrow values and offsets.
func writeRows(b *testing.B, path string, rows int) int64 {
	b.Helper()
	schema := arrow.NewSchema([]arrow.Field{{Name: "i", Type: arrow.PrimitiveTypes.Int64}, {Name: "s", Type: arrow.BinaryTypes.String}}, nil)
	f, err := os.Create(path)
	if err != nil {
		b.Fatal(err)
	}
	w, err := pqarrow.NewFileWriter(schema, f, parquet.NewWriterProperties(parquet.WithMaxRowGroupLength(1<<17)), pqarrow.DefaultWriterProps())
	if err != nil {
		b.Fatal(err)
	}
	var size int64
	bld := array.NewRecordBuilder(memory.NewGoAllocator(), schema)
	defer bld.Release()
	for start := 0; start < rows; start += 1 << 16 {
		for i := start; i < min(start+1<<16, rows); i++ {
			s := fmt.Sprintf("row %09d with some padding", i)
			bld.Field(0).(*array.Int64Builder).Append(int64(i))
			bld.Field(1).(*array.StringBuilder).Append(s)
			size += 8 + 4 + int64(len(s))
		}
		rec := bld.NewRecordBatch()
		if err := w.WriteBuffered(rec); err != nil {
			b.Fatal(err)
		}
		rec.Release()
	}
	if err := w.Close(); err != nil {
		b.Fatal(err)
	}
	return size
}
