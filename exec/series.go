package exec

import (
	"context"
	"io"
	"sync"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"

	"github.com/bellows-db/bellows/planner"
)

// Series is a Source producing an integer series (generate_series, range)
// in batches of q.BatchSize rows; drivers take batches from a shared
// counter, so any number of them share the work.
type Series struct {
	q      *QueryContext
	n      *planner.Series
	schema *arrow.Schema
	count  int64

	mu   sync.Mutex
	next int64
}

// NewSeries returns the source of n.
func NewSeries(q *QueryContext, n *planner.Series) *Series {
	return &Series{q: q, n: n, schema: schemaOf([]planner.Column{n.Col}), count: n.Count()}
}

// Local implements Source.
func (s *Series) Local(ctx context.Context) (SourceLocal, error) { return seriesLocal{s}, nil }

// Close implements Source.
func (s *Series) Close() {}

type seriesLocal struct{ s *Series }

func (l seriesLocal) Idle() bool { return true }
func (l seriesLocal) Close()     {}

// Next implements SourceLocal.
func (l seriesLocal) Next(ctx context.Context) (arrow.RecordBatch, error) {
	s := l.s
	s.mu.Lock()
	lo := s.next
	hi := lo + int64(max(s.q.BatchSize, 1))
	if hi > s.count || hi < lo {
		hi = s.count
	}
	s.next = hi
	s.mu.Unlock()
	if lo >= hi {
		return nil, io.EOF
	}
	m := int(hi - lo)
	buf := memory.NewResizableBuffer(s.q.Alloc)
	buf.Resize(m * 8)
	vals := arrow.Int64Traits.CastFromBytes(buf.Bytes())
	for k := range vals {
		vals[k] = s.n.Value(lo + int64(k))
	}
	data := array.NewData(arrow.PrimitiveTypes.Int64, m, []*memory.Buffer{nil, buf}, nil, 0, 0)
	buf.Release()
	arr := array.NewInt64Data(data)
	data.Release()
	defer arr.Release()
	return array.NewRecordBatch(s.schema, []arrow.Array{arr}, int64(m)), nil
}
