package sql

import (
	"fmt"
	"strconv"
	"strings"
	"sync/atomic"

	pg "github.com/pganalyze/pg_query_go/v6"

	"github.com/bellows-db/bellows/kernels"
	"github.com/bellows-db/bellows/planner"
)

// parseTreeVersion is the parser's tree version, needed to deparse.
var parseTreeVersion atomic.Int32

// Parsed is one parsed statement and its text.
type Parsed struct {
	Text string   // the statement's own text
	node *pg.Node // parse tree
	full string   // the whole script (positions refer to it)
}

// Parse splits text into statements, reporting syntax errors with line and
// column.
func Parse(text string) ([]*Parsed, error) {
	res, err := pg.Parse(text)
	if err != nil {
		return nil, parseError(text, err)
	}
	parseTreeVersion.Store(res.Version)
	out := make([]*Parsed, 0, len(res.Stmts))
	for _, s := range res.Stmts {
		start := int(s.StmtLocation)
		end := start + int(s.StmtLen)
		if s.StmtLen == 0 {
			end = len(text)
		}
		out = append(out, &Parsed{Text: strings.TrimSpace(text[start:end]), node: s.Stmt, full: text})
	}
	return out, nil
}

// NumParams returns the highest parameter number ($n) the statement uses,
// 0 when it has none.
func (p *Parsed) NumParams() int {
	res, err := pg.Scan(p.Text)
	if err != nil {
		return 0 // it parsed, so it scans; no parameters is the safe answer
	}
	n := 0
	for _, t := range res.Tokens {
		if t.Token != pg.Token_PARAM || int(t.End) > len(p.Text) || t.Start+1 >= t.End {
			continue
		}
		var k int
		if _, err := fmt.Sscanf(p.Text[t.Start+1:t.End], "%d", &k); err == nil && k > n {
			n = k
		}
	}
	return n
}

// Statement is a bound statement, ready for the engine to run. Exactly one
// of the pointer fields is set.
type Statement struct {
	Query       *Query
	Explain     *Explain
	CreateTable *CreateTable
	CreateView  *CreateView
	Insert      *Insert
	Drop        *Drop
	Copy        *Copy
	Set         *Set
	Show        *Show
	Call        *Call
}

// Query is a SELECT (or VALUES, set operation) with output column names.
type Query struct {
	Plan  planner.Node
	Names []string
}

// Explain asks for the plan of a query, or with Analyze its run-time stats;
// Distributed shows the plan cut into stages (EXPLAIN (DISTRIBUTED)).
type Explain struct {
	Query       *Query
	Analyze     bool
	Distributed bool
}

// CreateTable creates a managed table from column definitions or, with
// AsQuery, from a query's result.
type CreateTable struct {
	Name        string
	Columns     []ColumnDef
	AsQuery     *Query
	IfNotExists bool
}

// CreateView stores a named query.
type CreateView struct {
	Name    string
	SQL     string
	Columns []ColumnDef
	Replace bool
}

// Insert appends the rows of Source (already cast to the table's column
// types, in table column order) to a managed table.
type Insert struct {
	Table  string
	Source *Query
}

// Drop removes tables or views.
type Drop struct {
	Names    []string
	View     bool
	IfExists bool
}

// Copy writes a query's result to a file.
type Copy struct {
	Query  *Query
	Path   string
	Format planner.FileFormat
	Header bool
}

// Set changes a session setting; Value "" with Reset restores the default.
type Set struct {
	Name  string
	Value string
	Reset bool
}

// Show reads a session setting.
type Show struct{ Name string }

// Call is CALL name(args): a procedure of the engine (such as
// set_parallelism), its arguments constants given as text.
type Call struct {
	Name string
	Args []string
}

// Bind resolves a parsed statement against cat.
func Bind(cat Catalog, p *Parsed, params []Param) (st *Statement, err error) {
	defer func() {
		if r := recover(); r != nil {
			st, err = nil, &Error{Msg: fmt.Sprintf("internal error while planning: %v", r)}
		}
	}()
	b := NewBinder(cat, p.full)
	b.SetParams(params)
	return b.bindStatement(p.node)
}

func (b *Binder) bindTopQuery(n *pg.Node) (*Query, error) {
	q, err := b.bindQuery(n, nil)
	if err != nil {
		return nil, err
	}
	plan, err := planner.Decorrelate(q.node, b.nextColumnFunc())
	if err != nil {
		return nil, err
	}
	return &Query{Plan: plan, Names: q.names}, nil
}

func (b *Binder) nextColumnFunc() func(name string, t kernels.Type) planner.Column {
	return func(name string, t kernels.Type) planner.Column { return b.newCol(name, t, true) }
}

func (b *Binder) bindStatement(n *pg.Node) (*Statement, error) {
	switch {
	case n.GetSelectStmt() != nil:
		q, err := b.bindTopQuery(n)
		if err != nil {
			return nil, err
		}
		return &Statement{Query: q}, nil
	case n.GetExplainStmt() != nil:
		es := n.GetExplainStmt()
		ex := &Explain{}
		for _, o := range es.Options {
			d := o.GetDefElem()
			switch strings.ToLower(d.Defname) {
			case "analyze":
				ex.Analyze = d.Arg == nil || defBool(d.Arg)
			case "distributed":
				ex.Distributed = d.Arg == nil || defBool(d.Arg)
			case "verbose", "costs", "format":
			default:
				return nil, &Error{Msg: "unrecognized EXPLAIN option \"" + d.Defname + "\""}
			}
		}
		if es.Query.GetSelectStmt() == nil {
			return nil, &Error{Msg: "EXPLAIN supports queries only"}
		}
		q, err := b.bindTopQuery(es.Query)
		if err != nil {
			return nil, err
		}
		ex.Query = q
		return &Statement{Explain: ex}, nil
	case n.GetCreateStmt() != nil:
		cs := n.GetCreateStmt()
		ct := &CreateTable{Name: strings.ToLower(cs.Relation.Relname), IfNotExists: cs.IfNotExists}
		for _, e := range cs.TableElts {
			cd := e.GetColumnDef()
			if cd == nil {
				continue // table constraints are accepted and ignored
			}
			t, err := b.typeFromName(cd.TypeName)
			if err != nil {
				return nil, err
			}
			nullable := !cd.IsNotNull
			for _, c := range cd.Constraints {
				if con := c.GetConstraint(); con != nil && (con.Contype == pg.ConstrType_CONSTR_NOTNULL || con.Contype == pg.ConstrType_CONSTR_PRIMARY) {
					nullable = false
				}
			}
			ct.Columns = append(ct.Columns, ColumnDef{Name: strings.ToLower(cd.Colname), Type: t, Nullable: nullable})
		}
		if len(ct.Columns) == 0 {
			return nil, &Error{Msg: "CREATE TABLE needs at least one column"}
		}
		seen := map[string]bool{}
		for _, c := range ct.Columns {
			if seen[c.Name] {
				return nil, &Error{Msg: fmt.Sprintf("column %q specified more than once", c.Name)}
			}
			seen[c.Name] = true
		}
		return &Statement{CreateTable: ct}, nil
	case n.GetCreateTableAsStmt() != nil:
		cs := n.GetCreateTableAsStmt()
		if cs.Objtype != pg.ObjectType_OBJECT_TABLE {
			return nil, &Error{Msg: "only CREATE TABLE AS is supported"}
		}
		q, err := b.bindTopQuery(cs.Query)
		if err != nil {
			return nil, err
		}
		for i, c := range cs.Into.ColNames {
			if i < len(q.Names) {
				q.Names[i] = strings.ToLower(c.GetString_().Sval)
			}
		}
		if err := uniqueNames(q.Names); err != nil {
			return nil, err
		}
		ct := &CreateTable{Name: strings.ToLower(cs.Into.Rel.Relname), AsQuery: q, IfNotExists: cs.IfNotExists}
		for i, c := range q.Plan.Columns() {
			ct.Columns = append(ct.Columns, ColumnDef{Name: q.Names[i], Type: c.Type, Nullable: true})
		}
		return &Statement{CreateTable: ct}, nil
	case n.GetViewStmt() != nil:
		vs := n.GetViewStmt()
		// Bind now to validate and learn the columns; store the text.
		q, err := b.bindTopQuery(vs.Query)
		if err != nil {
			return nil, err
		}
		for i, a := range vs.Aliases {
			if i < len(q.Names) {
				q.Names[i] = strings.ToLower(a.GetString_().Sval)
			}
		}
		cv := &CreateView{Name: strings.ToLower(vs.View.Relname), Replace: vs.Replace}
		for i, c := range q.Plan.Columns() {
			cv.Columns = append(cv.Columns, ColumnDef{Name: q.Names[i], Type: c.Type, Nullable: true})
		}
		text, err := pg.Deparse(&pg.ParseResult{Version: parseTreeVersion.Load(), Stmts: []*pg.RawStmt{{Stmt: vs.Query}}})
		if err != nil {
			return nil, err
		}
		cv.SQL = text
		return &Statement{CreateView: cv}, nil
	case n.GetInsertStmt() != nil:
		return b.bindInsert(n.GetInsertStmt())
	case n.GetDropStmt() != nil:
		ds := n.GetDropStmt()
		d := &Drop{IfExists: ds.MissingOk}
		switch ds.RemoveType {
		case pg.ObjectType_OBJECT_TABLE:
		case pg.ObjectType_OBJECT_VIEW:
			d.View = true
		default:
			return nil, &Error{Msg: "only DROP TABLE and DROP VIEW are supported"}
		}
		for _, o := range ds.Objects {
			items := o.GetList().Items
			d.Names = append(d.Names, strings.ToLower(items[len(items)-1].GetString_().Sval))
		}
		return &Statement{Drop: d}, nil
	case n.GetCopyStmt() != nil:
		return b.bindCopy(n.GetCopyStmt())
	case n.GetVariableSetStmt() != nil:
		vs := n.GetVariableSetStmt()
		s := &Set{Name: strings.ToLower(vs.Name)}
		switch vs.Kind {
		case pg.VariableSetKind_VAR_SET_VALUE:
			var parts []string
			for _, a := range vs.Args {
				e, err := b.bindExpr(&exprCtx{sc: newScope(nil), clause: "SET"}, a)
				if err != nil {
					return nil, err
				}
				parts = append(parts, e.Value.Format(e.Type))
			}
			s.Value = strings.Join(parts, ", ")
		case pg.VariableSetKind_VAR_SET_DEFAULT, pg.VariableSetKind_VAR_RESET:
			s.Reset = true
		default:
			return nil, &Error{Msg: "unsupported SET form"}
		}
		return &Statement{Set: s}, nil
	case n.GetCallStmt() != nil:
		fc := n.GetCallStmt().Funccall
		parts := fc.Funcname
		c := &Call{Name: strings.ToLower(parts[len(parts)-1].GetString_().Sval)}
		for _, a := range fc.Args {
			k := a.GetAConst()
			if k == nil {
				return nil, b.errAt(fc.Location, "CALL %s: arguments must be constants", c.Name)
			}
			switch {
			case k.GetSval() != nil:
				c.Args = append(c.Args, k.GetSval().Sval)
			case k.GetIval() != nil:
				c.Args = append(c.Args, strconv.Itoa(int(k.GetIval().Ival)))
			default:
				return nil, b.errAt(k.Location, "CALL %s: arguments must be text or integer constants", c.Name)
			}
		}
		return &Statement{Call: c}, nil
	case n.GetVariableShowStmt() != nil:
		return &Statement{Show: &Show{Name: strings.ToLower(n.GetVariableShowStmt().Name)}}, nil
	case n.GetIndexStmt() != nil:
		// Indexes are accepted for compatibility and ignored: scans prune
		// with file statistics instead.
		is := n.GetIndexStmt()
		if _, ok := b.cat.Lookup(strings.ToLower(is.Relation.Relname)); !ok {
			return nil, b.errAt(is.Relation.Location, "relation %q does not exist", is.Relation.Relname)
		}
		return &Statement{Set: &Set{Name: "transaction"}}, nil
	case n.GetTransactionStmt() != nil:
		return &Statement{Set: &Set{Name: "transaction"}}, nil
	}
	return nil, &Error{Msg: fmt.Sprintf("unsupported statement %s", stmtName(n))}
}

func stmtName(n *pg.Node) string {
	s := fmt.Sprintf("%T", n.Node)
	s = strings.TrimPrefix(s, "*pg_query.Node_")
	return s
}

func defBool(n *pg.Node) bool {
	if c := n.GetAConst(); c != nil {
		if bv, ok := c.Val.(*pg.A_Const_Boolval); ok {
			return bv.Boolval.Boolval
		}
		if sv, ok := c.Val.(*pg.A_Const_Sval); ok {
			s := strings.ToLower(sv.Sval.Sval)
			return s == "true" || s == "on" || s == "1"
		}
	}
	if s := n.GetString_(); s != nil {
		v := strings.ToLower(s.Sval)
		return v == "true" || v == "on"
	}
	return true
}

func uniqueNames(names []string) error {
	seen := map[string]bool{}
	for _, n := range names {
		if seen[n] {
			return &Error{Msg: fmt.Sprintf("column %q specified more than once", n)}
		}
		seen[n] = true
	}
	return nil
}

func (b *Binder) bindInsert(is *pg.InsertStmt) (*Statement, error) {
	name := strings.ToLower(is.Relation.Relname)
	t, ok := b.cat.Lookup(name)
	if !ok {
		return nil, b.errAt(is.Relation.Location, "relation %q does not exist", is.Relation.Relname)
	}
	if !t.Managed {
		return nil, b.errAt(is.Relation.Location, "cannot insert into %q: only tables created with CREATE TABLE accept INSERT", name)
	}
	if is.OnConflictClause != nil || len(is.ReturningList) > 0 {
		return nil, &Error{Msg: "INSERT ... ON CONFLICT / RETURNING is not supported"}
	}
	if is.SelectStmt == nil {
		return nil, &Error{Msg: "INSERT ... DEFAULT VALUES is not supported"}
	}
	if err := b.pushCTEs(is.WithClause); err != nil {
		return nil, err
	}
	defer b.popCTEs()
	q, err := b.bindQuery(is.SelectStmt, nil)
	if err != nil {
		return nil, err
	}
	// Map source columns to table columns.
	target := make([]int, 0, len(t.Columns))
	if len(is.Cols) == 0 {
		for i := range t.Columns {
			target = append(target, i)
		}
	} else {
		for _, c := range is.Cols {
			rt := c.GetResTarget()
			idx := -1
			for i, tc := range t.Columns {
				if tc.Name == strings.ToLower(rt.Name) {
					idx = i
				}
			}
			if idx < 0 {
				return nil, b.errAt(rt.Location, "column %q of relation %q does not exist", rt.Name, name)
			}
			target = append(target, idx)
		}
	}
	src := q.cols()
	if len(src) > len(target) {
		return nil, &Error{Msg: "INSERT has more expressions than target columns"}
	}
	if len(src) < len(target) && len(is.Cols) > 0 {
		return nil, &Error{Msg: "INSERT has more target columns than expressions"}
	}
	exprs := make([]*planner.Expr, len(t.Columns))
	for i, tc := range t.Columns {
		exprs[i] = planner.NullConst(tc.Type)
	}
	for j, ti := range target[:len(src)] {
		e := planner.Col(src[j])
		tt := t.Columns[ti].Type
		if e.Type != tt {
			if _, ok := kernels.CommonType(e.Type, tt); !ok && e.Type.ID != kernels.String && e.Type.ID != kernels.Null {
				return nil, &Error{Msg: fmt.Sprintf("column %q is of type %s but expression is of type %s", t.Columns[ti].Name, tt, e.Type)}
			}
			e = &planner.Expr{Kind: planner.ECast, Type: tt, Args: []*planner.Expr{e}}
		}
		exprs[ti] = e
	}
	names := make([]string, len(t.Columns))
	for i, c := range t.Columns {
		names[i] = c.Name
	}
	proj := b.project(q.node, exprs, names)
	plan, err := planner.Decorrelate(proj, b.nextColumnFunc())
	if err != nil {
		return nil, err
	}
	return &Statement{Insert: &Insert{Table: name, Source: &Query{Plan: plan, Names: names}}}, nil
}

func (b *Binder) bindCopy(cs *pg.CopyStmt) (*Statement, error) {
	if cs.IsFrom {
		return nil, &Error{Msg: "COPY FROM is not supported; use INSERT INTO ... SELECT * FROM read_csv('file')"}
	}
	if cs.Filename == "" {
		return nil, &Error{Msg: "COPY TO STDOUT is not supported; give a file name"}
	}
	c := &Copy{Path: cs.Filename, Format: planner.FormatCSV, Header: true}
	for _, o := range cs.Options {
		d := o.GetDefElem()
		val := ""
		if d.Arg != nil {
			if s := d.Arg.GetString_(); s != nil {
				val = strings.ToLower(s.Sval)
			} else if ac := d.Arg.GetAConst(); ac != nil {
				if sv, ok := ac.Val.(*pg.A_Const_Sval); ok {
					val = strings.ToLower(sv.Sval.Sval)
				}
			}
		}
		switch strings.ToLower(d.Defname) {
		case "format":
			switch val {
			case "parquet":
				c.Format = planner.FormatParquet
			case "csv":
				c.Format = planner.FormatCSV
			case "arrow", "ipc":
				c.Format = planner.FormatArrow
			default:
				return nil, &Error{Msg: fmt.Sprintf("COPY format %q not recognized (parquet, csv, arrow)", val)}
			}
		case "header":
			c.Header = d.Arg == nil || defBool(d.Arg)
		default:
			return nil, &Error{Msg: fmt.Sprintf("COPY option %q not recognized", d.Defname)}
		}
	}
	var q *Query
	var err error
	if cs.Query != nil {
		q, err = b.bindTopQuery(cs.Query)
	} else {
		sel := &pg.SelectStmt{TargetList: []*pg.Node{pg.MakeResTargetNodeWithVal(pg.MakeColumnRefNode([]*pg.Node{pg.MakeAStarNode()}, 0), 0)},
			FromClause: []*pg.Node{{Node: &pg.Node_RangeVar{RangeVar: cs.Relation}}}, Op: pg.SetOperation_SETOP_NONE}
		q, err = b.bindTopQuery(&pg.Node{Node: &pg.Node_SelectStmt{SelectStmt: sel}})
	}
	if err != nil {
		return nil, err
	}
	c.Query = q
	return &Statement{Copy: c}, nil
}
