package exec

import (
	"context"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/bellows-db/bellows/planner"
)

// Project computes one expression per output column.
type Project struct {
	q      *QueryContext
	evs    []*Evaluator
	out    []planner.Column
	schema *arrow.Schema
}

// NewProject returns an Operator computing exprs (over columns input) into
// batches with the columns out (one per expression).
func NewProject(q *QueryContext, input []planner.Column, exprs []*planner.Expr, out []planner.Column) (Operator, error) {
	p := &Project{q: q, evs: make([]*Evaluator, len(exprs)), out: out, schema: schemaOf(out)}
	for i, e := range exprs {
		ev, err := Compile(e, input, q.Kernels)
		if err != nil {
			return nil, err
		}
		p.evs[i] = ev
	}
	return p, nil
}

// Local implements Operator.
func (p *Project) Local(ctx context.Context) (OperatorLocal, error) { return projectLocal{p}, nil }

// Close implements Operator.
func (p *Project) Close() {}

type projectLocal struct{ p *Project }

func (l projectLocal) Close() {}

// Process implements OperatorLocal.
func (l projectLocal) Process(ctx context.Context, in arrow.RecordBatch) (arrow.RecordBatch, error) {
	p := l.p
	cols, err := evalAll(p.q, p.evs, in)
	if err != nil {
		return nil, err
	}
	defer releaseAll(cols)
	return array.NewRecordBatch(fitSchema(p.schema, cols), cols, in.NumRows()), nil
}

// fitSchema returns schema, or a copy whose field types are those of cols
// where they differ (so a record can always be built).
func fitSchema(schema *arrow.Schema, cols []arrow.Array) *arrow.Schema {
	var fs []arrow.Field
	for i, c := range cols {
		if !arrow.TypeEqual(schema.Field(i).Type, c.DataType()) {
			if fs == nil {
				fs = append([]arrow.Field(nil), schema.Fields()...)
			}
			fs[i].Type = c.DataType()
		}
	}
	if fs == nil {
		return schema
	}
	return arrow.NewSchema(fs, nil)
}
