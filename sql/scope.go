package sql

import (
	"strings"

	"github.com/bellows-db/bellows/planner"
)

// binding is one visible relation of a FROM clause.
type binding struct {
	alias string // lower-case; "" for an unnamed subquery
	cols  []scopeCol
}

type scopeCol struct {
	name   string // lower-case
	col    planner.Column
	hidden bool // USING duplicate: not matched by unqualified names or *
}

// scope is the set of relations visible to an expression, with a link to
// the enclosing query's scope for correlated references.
type scope struct {
	rels  []*binding
	outer *scope
	// correlated collects outer columns referenced from this scope.
	correlated map[planner.ColumnID]bool
}

func newScope(outer *scope) *scope {
	return &scope{outer: outer, correlated: map[planner.ColumnID]bool{}}
}

func (s *scope) add(b *binding) { s.rels = append(s.rels, b) }

// columns returns every visible column, in FROM order.
func (s *scope) columns() []planner.Column {
	var out []planner.Column
	for _, r := range s.rels {
		for _, c := range r.cols {
			out = append(out, c.col)
		}
	}
	return out
}

// lookupResult says where a name was found.
type lookupResult struct {
	col       planner.Column
	depth     int // 0 = this scope, 1 = enclosing query, ...
	ambiguous bool
	found     bool
	badRel    bool // qualifier names no relation
}

func (s *scope) lookup(qual, name string) lookupResult {
	qual, name = strings.ToLower(qual), strings.ToLower(name)
	depth := 0
	relSeen := false
	for sc := s; sc != nil; sc = sc.outer {
		var hits []planner.Column
		for _, r := range sc.rels {
			if qual != "" && r.alias != qual {
				continue
			}
			if qual != "" {
				relSeen = true
			}
			for _, c := range r.cols {
				if c.name == name && (qual != "" || !c.hidden) {
					hits = append(hits, c.col)
				}
			}
		}
		if len(hits) > 1 {
			return lookupResult{ambiguous: true}
		}
		if len(hits) == 1 {
			if depth > 0 {
				// mark as correlated in every scope between here and the owner
				for x := s; x != sc; x = x.outer {
					x.correlated[hits[0].ID] = true
				}
			}
			return lookupResult{col: hits[0], depth: depth, found: true}
		}
		depth++
	}
	return lookupResult{badRel: qual != "" && !relSeen}
}

// relation finds a relation by alias in this scope only.
func (s *scope) relation(alias string) *binding {
	alias = strings.ToLower(alias)
	for _, r := range s.rels {
		if r.alias == alias {
			return r
		}
	}
	return nil
}
