package exec

import (
	"fmt"

	"github.com/apache/arrow-go/v18/arrow/memory"
	"github.com/bellows-db/bellows/kernels"
	"github.com/bellows-db/bellows/planner"
)

// InferSchema returns the column names and SQL types of a table stored in
// paths; the first file decides. CSV types come from the first rows
// (integer: Int64, decimal-looking: Float64, YYYY-MM-DD: Date, else String).
func InferSchema(format planner.FileFormat, paths []string, options map[string]string) ([]string, []kernels.Type, error) {
	if len(paths) == 0 {
		return nil, nil, fmt.Errorf("no files to read")
	}
	path := paths[0]
	switch format {
	case planner.FormatCSV:
		o, err := parseCSVOptions(options)
		if err != nil {
			return nil, nil, err
		}
		return inferCSV(path, o)
	case planner.FormatParquet:
		ft, err := readParquetFooter(path, memory.NewGoAllocator())
		if err != nil {
			return nil, nil, err
		}
		names := ft.fieldNames()
		types := make([]kernels.Type, len(names))
		for i := range names {
			t, err := kernels.FromArrow(ft.manifest.Fields[i].Field.Type)
			if err != nil {
				return nil, nil, &FileError{Path: path, RowGroup: -1, Column: names[i], Err: err}
			}
			types[i] = t
		}
		return names, types, nil
	case planner.FormatArrow:
		af, err := openArrow(path, memory.NewGoAllocator())
		if err != nil {
			return nil, nil, err
		}
		defer af.close()
		names := af.fieldNames()
		types := make([]kernels.Type, len(names))
		for i := range names {
			t, err := kernels.FromArrow(af.schema.Field(i).Type)
			if err != nil {
				return nil, nil, &FileError{Path: path, RowGroup: -1, Column: names[i], Err: err}
			}
			types[i] = t
		}
		return names, types, nil
	}
	return nil, nil, fmt.Errorf("unsupported file format %q", format)
}

// ReadStats returns a table's statistics from file metadata: the row count
// (-1 when unknown) and, for Parquet, per column min/max (in the column's
// SQL type) and null counts aggregated over the row groups.
func ReadStats(format planner.FileFormat, paths []string, options map[string]string) (*planner.TableStats, error) {
	switch format {
	case planner.FormatParquet:
		return parquetStats(paths)
	case planner.FormatCSV:
		o, err := parseCSVOptions(options)
		if err != nil {
			return nil, err
		}
		ts := &planner.TableStats{}
		for _, p := range paths {
			n, err := csvRowCount(p, o)
			if err != nil {
				return nil, err
			}
			if n < 0 {
				return &planner.TableStats{Rows: -1}, nil
			}
			ts.Rows += n
		}
		return ts, nil
	case planner.FormatArrow:
		ts := &planner.TableStats{}
		for _, p := range paths {
			n, err := arrowRowCount(p)
			if err != nil {
				return nil, err
			}
			if n < 0 {
				return &planner.TableStats{Rows: -1}, nil
			}
			ts.Rows += n
		}
		return ts, nil
	}
	return nil, fmt.Errorf("unsupported file format %q", format)
}
