package exec

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/ipc"
	"github.com/bellows-db/bellows/kernels"
	"github.com/bellows-db/bellows/planner"
)

// fuzzScan writes data to a file, infers its schema, reads its statistics
// and drains a scan of every column (with a prunable filter). Errors are
// fine; panics and hangs are not.
func fuzzScan(t *testing.T, format planner.FileFormat, data []byte, opts map[string]string) {
	// A hang is a failure too: crash with the input saved by the fuzzer.
	watchdog := time.AfterFunc(fuzzHangLimit, func() {
		panic(fmt.Sprintf("scan of a %d-byte %s input did not finish in %s", len(data), format, fuzzHangLimit))
	})
	defer watchdog.Stop()
	p := filepath.Join(t.TempDir(), "f."+string(format))
	if err := os.WriteFile(p, data, 0o644); err != nil {
		t.Fatal(err)
	}
	_, _ = ReadStats(format, []string{p}, opts)
	names, types, err := InferSchema(format, []string{p}, opts)
	if err != nil {
		return
	}
	s := &planner.Scan{Format: format, Paths: []string{p}, Options: opts, FileCols: names}
	for i, n := range names {
		s.Cols = append(s.Cols, planner.Column{ID: planner.ColumnID(i + 1), Name: n, Type: types[i], Nullable: true})
	}
	if len(s.Cols) > 0 {
		c := s.Cols[0]
		if c.Type.ID == kernels.Int64 || c.Type.ID == kernels.Int32 || c.Type.ID == kernels.String {
			v := kernels.Value{I: 3, S: "m"}
			s.Filter = []*planner.Expr{planner.Call("ge", kernels.TBool, planner.Col(c), planner.Const(c.Type, v))}
		} else {
			s.Filter = []*planner.Expr{{Kind: planner.ENot, Type: kernels.TBool, Args: []*planner.Expr{
				{Kind: planner.EIsNull, Type: kernels.TBool, Args: []*planner.Expr{planner.Col(c)}}}}}
		}
	}
	q := NewQueryContext(nil, 1<<30, 1)
	q.Kernels = scanTestRegistry
	q.BatchSize = 64
	src, err := NewScan(q, s)
	if err != nil {
		return
	}
	defer src.Close()
	ctx := context.Background()
	l, err := src.Local(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	for {
		b, err := l.Next(ctx)
		if err != nil {
			return
		}
		b.Release()
	}
}

// fuzzHangLimit bounds one fuzz input's scan.
const fuzzHangLimit = 20 * time.Second

func FuzzParquetScan(f *testing.F) {
	dir := f.TempDir()
	p := filepath.Join(dir, "seed.parquet")
	scanWriteParquet(f, p, 0, 60, 25)
	good, err := os.ReadFile(p)
	if err != nil {
		f.Fatal(err)
	}
	f.Add(good)
	f.Add(good[:len(good)-30])
	f.Add(good[:len(good)/2])
	flipped := append([]byte(nil), good...)
	for i := 100; i < len(flipped)-200; i += 37 {
		flipped[i] ^= 0x5a
	}
	f.Add(flipped)
	f.Add([]byte("PAR1\x00\x00\x00\x00PAR1"))
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, data []byte) {
		fuzzScan(t, planner.FormatParquet, data, nil)
	})
}

func FuzzCSVScan(f *testing.F) {
	for _, s := range []string{
		"a,b,c\n1,2.5,2024-01-01\n2,,\n",
		"x\n\n\n",
		"id,name\n1,\"quoted, \"\"name\"\"\"\n2,\"multi\nline\"\n",
		"a,b\n1,\"unterminated\n",
		"a;b\r\n1;2\r\n",
		"\xef\xbb\xbfa,a,A\n1,2,3\n",
		"n\n-9223372036854775808\n9223372036854775807\n",
		"d\n2024-02-30\n",
		"",
	} {
		f.Add([]byte(s), false)
		f.Add([]byte(s), true)
	}
	f.Fuzz(func(t *testing.T, data []byte, noHeader bool) {
		opts := map[string]string{}
		if noHeader {
			opts["header"] = "false"
		}
		if len(data) > 0 && data[0] == ';' {
			opts["delim"] = ";"
		}
		fuzzScan(t, planner.FormatCSV, data, opts)
	})
}

func FuzzArrowScan(f *testing.F) {
	p := filepath.Join(f.TempDir(), "seed.arrow")
	b := scanTestBatch(0, 40)
	defer b.Release()
	if err := WriteFile(planner.FormatArrow, p, scanTestSchema, func(yield func(arrow.RecordBatch, error) bool) { yield(b, nil) }); err != nil {
		f.Fatal(err)
	}
	data, err := os.ReadFile(p)
	if err != nil {
		f.Fatal(err)
	}
	var stream bytes.Buffer
	w := ipc.NewWriter(&stream, ipc.WithSchema(scanTestSchema))
	if err := w.Write(b); err != nil {
		f.Fatal(err)
	}
	w.Close()
	for _, d := range [][]byte{data, stream.Bytes()} {
		f.Add(d)
		f.Add(d[:len(d)/2])
		f.Add(d[:len(d)-9])
	}
	f.Add([]byte("ARROW1\x00\x00"))
	f.Fuzz(func(t *testing.T, data []byte) {
		fuzzScan(t, planner.FormatArrow, data, nil)
	})
}
