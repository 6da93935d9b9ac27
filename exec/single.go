package exec

import (
	"context"
	"errors"
	"io"
	"sync"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/bellows-db/bellows/planner"
)

// ErrMoreThanOneRow is returned when a scalar subquery yields several rows.
var ErrMoreThanOneRow = errors.New("more than one row returned by a subquery used as an expression")

// EnforceSingleRow is a Sink and Source passing its input when it has at
// most one row; no row gives one row of NULLs; more rows is an error.
type EnforceSingleRow struct {
	q      *QueryContext
	schema *arrow.Schema

	mu     sync.Mutex
	rows   int64
	row    arrow.RecordBatch // the input row, or after Finalize the output
	done   bool              // the output was read
	closed bool
}

// NewEnforceSingleRow returns the operator for columns cols.
func NewEnforceSingleRow(q *QueryContext, cols []planner.Column) *EnforceSingleRow {
	nc := append([]planner.Column(nil), cols...)
	for i := range nc {
		nc[i].Nullable = true
	}
	return &EnforceSingleRow{q: q, schema: schemaOf(nc)}
}

type singleLocal struct{ s *EnforceSingleRow }

// Local implements Sink.
func (s *EnforceSingleRow) Local(ctx context.Context) (SinkLocal, error) { return singleLocal{s}, nil }

// Consume implements SinkLocal; a second row fails with ErrMoreThanOneRow.
func (l singleLocal) Consume(ctx context.Context, in arrow.RecordBatch) error {
	s := l.s
	n := in.NumRows()
	if n == 0 {
		return nil
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.rows += n
	if s.rows > 1 {
		return ErrMoreThanOneRow
	}
	if s.closed {
		return nil
	}
	in.Retain()
	s.row = in
	return nil
}

// Combine implements SinkLocal.
func (l singleLocal) Combine(ctx context.Context) error { return nil }

// Finalize implements Sink: prepares the output row.
func (s *EnforceSingleRow) Finalize(ctx context.Context) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.rows > 1 {
		return ErrMoreThanOneRow
	}
	if s.row != nil {
		cols := s.row.Columns()
		out := array.NewRecordBatch(fitSchema(s.schema, cols), cols, 1)
		s.row.Release()
		s.row = out
		return nil
	}
	cols := make([]arrow.Array, s.schema.NumFields())
	defer releaseAll(cols)
	for i, f := range s.schema.Fields() {
		cols[i] = array.MakeArrayOfNull(s.q.Alloc, f.Type, 1)
	}
	s.row = array.NewRecordBatch(s.schema, cols, 1)
	return nil
}

// Close implements Sink.
func (s *EnforceSingleRow) Close() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.closed = true
	if s.row != nil {
		s.row.Release()
		s.row = nil
	}
}

// Source returns the single output row (after Finalize). Closing it
// releases the operator's state.
func (s *EnforceSingleRow) Source() Source {
	return &funcSource{next: s.nextOut, close: s.Close}
}

func (s *EnforceSingleRow) nextOut(ctx context.Context) (arrow.RecordBatch, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.done || s.row == nil {
		return nil, io.EOF
	}
	s.done = true
	s.row.Retain()
	return s.row, nil
}
