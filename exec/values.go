package exec

import (
	"context"
	"errors"
	"io"
	"sync"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/bellows-db/bellows/kernels"
	"github.com/bellows-db/bellows/planner"
)

// Values is a Source producing constant rows.
type Values struct {
	q      *QueryContext
	cols   []planner.Column
	schema *arrow.Schema
	rows   [][]kernels.Value

	mu   sync.Mutex
	next int
}

// NewValues returns a Source producing rows (constant expressions, one per
// column of cols, cast to the column types) in batches of q.BatchSize rows.
func NewValues(q *QueryContext, cols []planner.Column, rows [][]*planner.Expr) (Source, error) {
	v := &Values{q: q, cols: cols, schema: schemaOf(cols), rows: make([][]kernels.Value, len(rows))}
	for r, row := range rows {
		if len(row) != len(cols) {
			return nil, errors.New("VALUES lists must all be the same length")
		}
		vals := make([]kernels.Value, len(row))
		for c, e := range row {
			var val kernels.Value
			if e.Kind == planner.EConst {
				val = e.Value
			} else {
				var err error
				if val, err = EvalConst(q, e); err != nil {
					return nil, err
				}
			}
			if e.Type != cols[c].Type && !val.Null {
				var err error
				if val, err = kernels.CastValue(val, e.Type, cols[c].Type); err != nil {
					return nil, err
				}
			}
			vals[c] = val
		}
		v.rows[r] = vals
	}
	return v, nil
}

// Local implements Source.
func (v *Values) Local(ctx context.Context) (SourceLocal, error) { return valuesLocal{v}, nil }

// Close implements Source.
func (v *Values) Close() {}

type valuesLocal struct{ v *Values }

func (l valuesLocal) Idle() bool { return true }
func (l valuesLocal) Close()     {}

// Next implements SourceLocal.
func (l valuesLocal) Next(ctx context.Context) (arrow.RecordBatch, error) {
	v := l.v
	v.mu.Lock()
	lo := v.next
	hi := min(lo+max(v.q.BatchSize, 1), len(v.rows))
	v.next = hi
	v.mu.Unlock()
	if lo >= hi {
		return nil, io.EOF
	}
	arrs := make([]arrow.Array, len(v.cols))
	defer releaseAll(arrs)
	for c, col := range v.cols {
		bld := array.NewBuilder(v.q.Alloc, col.Type.Arrow())
		bld.Reserve(hi - lo)
		for _, row := range v.rows[lo:hi] {
			kernels.AppendValue(bld, col.Type, row[c])
		}
		arrs[c] = bld.NewArray()
		bld.Release()
	}
	return array.NewRecordBatch(v.schema, arrs, int64(hi-lo)), nil
}
