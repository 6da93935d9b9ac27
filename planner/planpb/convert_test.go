package planpb

import (
	"strings"
	"testing"

	"google.golang.org/protobuf/proto"

	"github.com/bellows-db/bellows/kernels"
	"github.com/bellows-db/bellows/planner"
)

// sampleGraph is a small two-stage graph with every kind of field set.
func sampleGraph() *planner.FragmentGraph {
	a := planner.Column{ID: 1, Name: "a", Type: kernels.TInt64, Nullable: true}
	d := planner.Column{ID: 2, Name: "d", Type: kernels.DecimalType(12, 2)}
	scan := &planner.Scan{Table: "t", Format: planner.FormatParquet, Paths: []string{"/x/t.parquet"}, Cols: []planner.Column{a, d},
		FileCols: []string{"a", "d"}, Filter: []*planner.Expr{planner.Call("gt", kernels.TBool, planner.Col(a), planner.Const(kernels.TInt64, kernels.Value{I: 3}))}, Out: []int{0, 1}}
	agg := &planner.Aggregate{Input: &planner.Exchange{Stage: 0, Kind: planner.ExchangeHash, Keys: []planner.ColumnID{1}, Cols: []planner.Column{a, d}, Est: 10},
		Groups: []*planner.Expr{planner.Col(a)}, GroupCols: []planner.Column{{ID: 3, Name: "a", Type: kernels.TInt64}},
		Aggs: []planner.AggCall{{Func: "sum", Args: []*planner.Expr{planner.Col(d)}, Type: kernels.DecimalType(38, 2)}}, AggCols: []planner.Column{{ID: 4, Name: "sum", Type: kernels.DecimalType(38, 2)}}}
	return &planner.FragmentGraph{Stages: []*planner.Stage{
		{ID: 0, Root: scan, Output: planner.ExchangeHash, Keys: []planner.ColumnID{1}, Tasks: 3},
		{ID: 1, Root: &planner.Sort{Input: agg, Keys: []planner.SortKey{{Expr: planner.Col(planner.Column{ID: 3, Type: kernels.TInt64}), Desc: true}}}, Tasks: 1, Single: true},
	}}
}

// TestRoundTrip sends a graph through its wire form and back.
func TestRoundTrip(t *testing.T) {
	g := sampleGraph()
	b, err := Marshal(g)
	if err != nil {
		t.Fatal(err)
	}
	back, err := Unmarshal(b)
	if err != nil {
		t.Fatal(err)
	}
	if a, c := planner.ExplainDistributed(g), planner.ExplainDistributed(back); a != c {
		t.Fatalf("round trip changed the plan:\n%s\nbecame\n%s", a, c)
	}
	if back.Stages[0].Root.(*planner.Scan).Out == nil {
		t.Error("Scan.Out was lost")
	}
}

// TestUnmarshalRejects checks that broken messages are errors that say
// what is wrong.
func TestUnmarshalRejects(t *testing.T) {
	for _, c := range []struct {
		name string
		msg  *FragmentGraph
		want string
	}{
		{"no root", &FragmentGraph{Stages: []*Stage{{Id: 0}}}, "missing plan node"},
		{"bad stage id", &FragmentGraph{Stages: []*Stage{{Id: 5, Root: &Node{Node: &Node_Limit{Limit: &Limit{}}}}}}, "has id 5"},
		{"limit without input", &FragmentGraph{Stages: []*Stage{{Id: 0, Root: &Node{Node: &Node_Limit{Limit: &Limit{}}}}}}, "missing input"},
		{"bad type", &FragmentGraph{Stages: []*Stage{{Id: 0, Root: &Node{Node: &Node_Series{Series: &Series{Col: &Column{Type: &Type{Id: 99}}, Step: 1}}}}}}, "unknown type id 99"},
		{"bad join", &FragmentGraph{Stages: []*Stage{{Id: 0, Root: &Node{Node: &Node_Join{Join: &Join{Kind: 42}}}}}}, "unknown join kind"},
	} {
		b, err := marshalRaw(c.msg)
		if err != nil {
			t.Fatal(err)
		}
		_, err = Unmarshal(b)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: got %v, want an error with %q", c.name, err, c.want)
		}
	}
	// Nesting deeper than the limit.
	n := &Node{Node: &Node_Series{Series: &Series{Col: &Column{Type: &Type{Id: int32(kernels.Int64)}}, Step: 1}}}
	for range maxDepth + 5 {
		n = &Node{Node: &Node_Limit{Limit: &Limit{Input: n, Count: 1}}}
	}
	b, _ := marshalRaw(&FragmentGraph{Stages: []*Stage{{Id: 0, Root: n}}})
	if _, err := Unmarshal(b); err == nil || !strings.Contains(err.Error(), "nested deeper") {
		t.Errorf("deep nesting: %v", err)
	}
}

// FuzzUnmarshal feeds random bytes to the decoder: errors are fine,
// panics are not, and what decodes must encode again.
func FuzzUnmarshal(f *testing.F) {
	b, err := Marshal(sampleGraph())
	if err != nil {
		f.Fatal(err)
	}
	f.Add(b)
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, data []byte) {
		g, err := Unmarshal(data)
		if err != nil {
			return
		}
		if _, err := Marshal(g); err != nil {
			t.Fatalf("a decoded graph does not encode: %v", err)
		}
	})
}

// marshalRaw encodes a wire message as is (to build broken ones).
func marshalRaw(g *FragmentGraph) ([]byte, error) { return proto.Marshal(g) }
