package harness

import (
	"context"
	"database/sql"
	"fmt"
	"path/filepath"
	"strings"

	_ "github.com/duckdb/duckdb-go/v2" // registers the "duckdb" database/sql driver
)

// OpenDuckDB opens an in-memory DuckDB database with one view per table,
// `CREATE VIEW t AS SELECT * FROM read_parquet('DIR/t.parquet')`.
// threads > 0 runs `SET threads = threads`.
func OpenDuckDB(ctx context.Context, dataDir string, tables []string, threads int) (*sql.DB, error) {
	db, err := sql.Open("duckdb", "")
	if err != nil {
		return nil, fmt.Errorf("open duckdb: %w", err)
	}
	abs, err := filepath.Abs(dataDir)
	if err != nil {
		db.Close()
		return nil, err
	}
	var stmts []string
	if threads > 0 {
		stmts = append(stmts, fmt.Sprintf("SET threads = %d", threads))
	}
	for _, t := range tables {
		path := filepath.Join(abs, t+".parquet")
		stmts = append(stmts, fmt.Sprintf("CREATE VIEW %s AS SELECT * FROM read_parquet(%s)",
			quoteIdent(t), quoteLiteral(path)))
	}
	for _, s := range stmts {
		if _, err := db.ExecContext(ctx, s); err != nil {
			db.Close()
			return nil, fmt.Errorf("duckdb: %s: %w", s, err)
		}
	}
	return db, nil
}

func quoteLiteral(s string) string { return "'" + strings.ReplaceAll(s, "'", "''") + "'" }
func quoteIdent(s string) string   { return `"` + strings.ReplaceAll(s, `"`, `""`) + `"` }

// RunDuckDB runs a SQL script (one or more statements) on one connection of
// db and returns the result of the last statement that returns rows.
// Commands (CREATE VIEW, DROP VIEW, SET ...) are executed in order.
func RunDuckDB(ctx context.Context, db *sql.DB, script string) (*Result, error) {
	stmts := SplitStatements(script)
	if len(stmts) == 0 {
		return nil, fmt.Errorf("duckdb: empty script")
	}
	conn, err := db.Conn(ctx)
	if err != nil {
		return nil, fmt.Errorf("duckdb: %w", err)
	}
	defer conn.Close()
	var res *Result
	for _, s := range stmts {
		if !ReturnsRows(s) {
			if _, err := conn.ExecContext(ctx, s); err != nil {
				return nil, fmt.Errorf("duckdb: %w\nstatement: %s", err, s)
			}
			continue
		}
		r, err := queryAll(ctx, conn, s)
		if err != nil {
			return nil, fmt.Errorf("duckdb: %w\nstatement: %s", err, s)
		}
		res = r
	}
	if res == nil {
		return nil, fmt.Errorf("duckdb: script has no statement returning rows")
	}
	return res, nil
}

func queryAll(ctx context.Context, conn *sql.Conn, q string) (*Result, error) {
	rows, err := conn.QueryContext(ctx, q)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	cols, err := rows.Columns()
	if err != nil {
		return nil, err
	}
	cts, err := rows.ColumnTypes()
	if err != nil {
		return nil, err
	}
	res := &Result{Columns: cols, Types: make([]string, len(cts))}
	for i, ct := range cts {
		res.Types[i] = ct.DatabaseTypeName()
	}
	for rows.Next() {
		vals := make([]any, len(cols))
		ptrs := make([]any, len(cols))
		for i := range vals {
			ptrs[i] = &vals[i]
		}
		if err := rows.Scan(ptrs...); err != nil {
			return nil, err
		}
		res.Rows = append(res.Rows, vals)
	}
	return res, rows.Err()
}
