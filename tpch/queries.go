package tpch

import (
	"embed"
	"fmt"
)

//go:embed queries/q*.sql
var queryFS embed.FS

// Query returns the text of TPC-H query n (1..22) exactly as in
// queries/qNN.sql (PostgreSQL-friendly SQL with the validation parameters),
// or an error for any other n.
func Query(n int) (string, error) {
	if n < 1 || n > 22 {
		return "", fmt.Errorf("tpch: no query %d (want 1..22)", n)
	}
	b, err := queryFS.ReadFile(fmt.Sprintf("queries/q%02d.sql", n))
	if err != nil {
		return "", fmt.Errorf("tpch: query %d: %w", n, err)
	}
	return string(b), nil
}
