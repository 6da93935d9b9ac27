package bellows

import (
	"context"
	"testing"
)

// TestQueryErrorNeverLost: a run-time error must reach Err and Exec even
// when the result stream ends before the query goroutine finished.
func TestQueryErrorNeverLost(t *testing.T) {
	db, _ := Open(Options{})
	defer db.Close()
	ctx := context.Background()
	db.Exec(ctx, "CREATE TABLE z(a int); INSERT INTO z VALUES (1),(0)")
	for i := 0; i < 3000; i++ {
		if err := db.Exec(ctx, "SELECT 1/a FROM z"); err == nil {
			t.Fatalf("iteration %d: division by zero lost", i)
		}
	}
}
