package exec

import (
	"context"
	"math"
	"sync/atomic"

	"github.com/apache/arrow-go/v18/arrow"
)

// Limit passes at most count rows after skipping offset rows, counted over
// all drivers together (each batch claims the next range of row numbers).
type Limit struct {
	lo, hi int64 // rows with position in [lo, hi) pass
	seen   atomic.Int64
}

// NewLimit returns an Operator skipping offset rows then passing at most
// count rows (count < 0: all). Exact on ordered input run with one driver.
func NewLimit(q *QueryContext, count, offset int64) Operator {
	if offset < 0 {
		offset = 0
	}
	hi := int64(math.MaxInt64)
	if count >= 0 && offset <= math.MaxInt64-count {
		hi = offset + count
	}
	return &Limit{lo: offset, hi: hi}
}

// Local implements Operator.
func (l *Limit) Local(ctx context.Context) (OperatorLocal, error) { return limitLocal{l}, nil }

// Close implements Operator.
func (l *Limit) Close() {}

// Done reports whether no further row can pass.
func (l *Limit) Done() bool { return l.seen.Load() >= l.hi }

type limitLocal struct{ l *Limit }

func (ll limitLocal) Close() {}

// Process implements OperatorLocal.
func (ll limitLocal) Process(ctx context.Context, in arrow.RecordBatch) (arrow.RecordBatch, error) {
	l := ll.l
	n := in.NumRows()
	if n == 0 || l.seen.Load() >= l.hi {
		return nil, nil
	}
	end := l.seen.Add(n)
	start := end - n
	lo, hi := max(start, l.lo), min(end, l.hi)
	if lo >= hi {
		return nil, nil
	}
	if lo == start && hi == end {
		in.Retain()
		return in, nil
	}
	return in.NewSlice(lo-start, hi-start), nil
}
