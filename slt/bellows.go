package slt

import (
	"context"

	"github.com/apache/arrow-go/v18/arrow/array"

	"github.com/bellows-db/bellows"
)

// BellowsDB adapts an embedded *bellows.DB to DB.
type BellowsDB struct{ *bellows.DB }

// Query runs sql on the embedded engine.
func (b BellowsDB) Query(ctx context.Context, sql string) (array.RecordReader, error) {
	rows, err := b.DB.Query(ctx, sql)
	if err != nil {
		return nil, err
	}
	return rows, nil
}

// NewBellows returns a newDB function for RunFile that opens an embedded
// engine with opts (by default in a temporary folder).
func NewBellows(opts bellows.Options) func() (DB, error) {
	return func() (DB, error) {
		db, err := bellows.Open(opts)
		if err != nil {
			return nil, err
		}
		return BellowsDB{db}, nil
	}
}
