package main

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"os"
	"sort"
	"strings"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/flight"
	"github.com/apache/arrow-go/v18/arrow/flight/flightsql"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"

	"github.com/bellows-db/bellows"
	"github.com/bellows-db/bellows/kernels"
)

// result is a statement's result as the shell reads it: batches, then an
// error if the statement failed part way. Release it when done.
type result interface {
	Schema() *arrow.Schema
	Next() bool
	RecordBatch() arrow.RecordBatch
	Err() error
	Release()
}

// conn is what the shell and the script runner talk to: an embedded
// session or a Flight SQL server. Not safe for concurrent use.
type conn interface {
	// Query runs one statement.
	Query(ctx context.Context, sql string) (result, error)
	// Tables lists tables and views as "name (table|view)".
	Tables(ctx context.Context) ([]string, error)
	// Describe lists a table's columns as "name type".
	Describe(ctx context.Context, name string) ([]string, error)
	Close() error
}

// embedded is a conn on an in-process engine.
type embedded struct {
	db   *bellows.DB
	sess *bellows.Session
}

func newEmbedded(db *bellows.DB) *embedded { return &embedded{db: db, sess: db.NewSession()} }

func (e *embedded) Query(ctx context.Context, sql string) (result, error) {
	return e.sess.Query(ctx, sql)
}
func (e *embedded) Tables(context.Context) ([]string, error) { return e.db.Tables(), nil }
func (e *embedded) Describe(_ context.Context, name string) ([]string, error) {
	return e.db.Describe(name)
}
func (e *embedded) Close() error { return nil }

// remoteOptions say how to reach a Flight SQL server.
type remoteOptions struct {
	addr, user, password, token string
	tls                         bool
	tlsCA                       string // PEM file of the CA to trust ("": the system's)
}

// remote is a conn to a Flight SQL server.
type remote struct {
	c   *flightsql.Client
	ctx context.Context // carries the authorization header
}

func dialRemote(ctx context.Context, o remoteOptions) (*remote, error) {
	creds := insecure.NewCredentials()
	if o.tls || o.tlsCA != "" {
		cfg := &tls.Config{MinVersion: tls.VersionTLS12}
		if o.tlsCA != "" {
			pem, err := os.ReadFile(o.tlsCA)
			if err != nil {
				return nil, fmt.Errorf("--tls-ca: %w", err)
			}
			pool := x509.NewCertPool()
			if !pool.AppendCertsFromPEM(pem) {
				return nil, fmt.Errorf("--tls-ca %s: no PEM certificate in it", o.tlsCA)
			}
			cfg.RootCAs = pool
		}
		creds = credentials.NewTLS(cfg)
	}
	c, err := flightsql.NewClientCtx(ctx, o.addr, nil, nil, grpc.WithTransportCredentials(creds))
	if err != nil {
		return nil, fmt.Errorf("connect %s: %w", o.addr, err)
	}
	r := &remote{c: c, ctx: context.Background()}
	switch {
	case o.token != "":
		r.ctx = metadata.AppendToOutgoingContext(r.ctx, "authorization", "Bearer "+o.token)
	case o.user != "":
		actx, err := c.Client.AuthenticateBasicToken(ctx, o.user, o.password)
		if err != nil {
			c.Close()
			return nil, fmt.Errorf("log in to %s as %s: %w", o.addr, o.user, remoteError(err))
		}
		md, _ := metadata.FromOutgoingContext(actx)
		r.ctx = metadata.NewOutgoingContext(r.ctx, md)
	}
	return r, nil
}

// call merges the authorization metadata into ctx.
func (r *remote) call(ctx context.Context) context.Context {
	md, _ := metadata.FromOutgoingContext(r.ctx)
	if old, ok := metadata.FromOutgoingContext(ctx); ok {
		md = metadata.Join(md, old)
	}
	return metadata.NewOutgoingContext(ctx, md)
}

// remoteResult reads the endpoints of a FlightInfo one after another.
type remoteResult struct {
	ctx    context.Context
	c      *flightsql.Client
	eps    []*flight.FlightEndpoint
	rdr    *flight.Reader
	schema *arrow.Schema
	err    error
}

func (r *remote) Query(ctx context.Context, sql string) (result, error) {
	ctx = r.call(ctx)
	info, err := r.c.Execute(ctx, sql)
	if err != nil {
		return nil, remoteError(err)
	}
	schema, err := flight.DeserializeSchema(info.Schema, nil)
	if err != nil {
		return nil, fmt.Errorf("result schema: %w", err)
	}
	res := &remoteResult{ctx: ctx, c: r.c, eps: info.Endpoint, schema: schema}
	if !res.open() {
		return nil, remoteError(res.err)
	}
	return res, nil
}

// open starts reading the next endpoint; false at the end or on error.
func (r *remoteResult) open() bool {
	if r.rdr != nil {
		r.rdr.Release()
		r.rdr = nil
	}
	if len(r.eps) == 0 {
		return false
	}
	ep := r.eps[0]
	r.eps = r.eps[1:]
	rdr, err := r.c.DoGet(r.ctx, ep.Ticket)
	if err != nil {
		r.err = err
		return false
	}
	r.rdr = rdr
	r.schema = rdr.Schema()
	return true
}

func (r *remoteResult) Schema() *arrow.Schema { return r.schema }

func (r *remoteResult) Next() bool {
	for r.rdr != nil {
		if r.rdr.Next() {
			return true
		}
		if err := r.rdr.Err(); err != nil {
			r.err = err
			return false
		}
		if !r.open() {
			return false
		}
	}
	return false
}

func (r *remoteResult) RecordBatch() arrow.RecordBatch { return r.rdr.RecordBatch() }
func (r *remoteResult) Err() error                     { return remoteError(r.err) }
func (r *remoteResult) Release() {
	if r.rdr != nil {
		r.rdr.Release()
		r.rdr = nil
	}
}

func (r *remote) tables(ctx context.Context, opts *flightsql.GetTablesOpts) ([]arrow.RecordBatch, error) {
	ctx = r.call(ctx)
	info, err := r.c.GetTables(ctx, opts)
	if err != nil {
		return nil, remoteError(err)
	}
	var out []arrow.RecordBatch
	for _, ep := range info.Endpoint {
		rdr, err := r.c.DoGet(ctx, ep.Ticket)
		if err != nil {
			return nil, err
		}
		for rdr.Next() {
			b := rdr.RecordBatch()
			b.Retain()
			out = append(out, b)
		}
		err = rdr.Err()
		rdr.Release()
		if err != nil {
			return nil, err
		}
	}
	return out, nil
}

func (r *remote) Tables(ctx context.Context) ([]string, error) {
	bs, err := r.tables(ctx, &flightsql.GetTablesOpts{})
	if err != nil {
		return nil, err
	}
	var out []string
	for _, b := range bs {
		names, kinds := b.Column(2).(*array.String), b.Column(3).(*array.String)
		for i := 0; i < names.Len(); i++ {
			out = append(out, names.Value(i)+" ("+strings.ToLower(kinds.Value(i))+")")
		}
		b.Release()
	}
	sort.Strings(out)
	return out, nil
}

func (r *remote) Describe(ctx context.Context, name string) ([]string, error) {
	lname := strings.ToLower(name)
	bs, err := r.tables(ctx, &flightsql.GetTablesOpts{TableNameFilterPattern: &lname, IncludeSchema: true})
	if err != nil {
		return nil, err
	}
	defer func() {
		for _, b := range bs {
			b.Release()
		}
	}()
	for _, b := range bs {
		names := b.Column(2).(*array.String)
		for i := 0; i < names.Len(); i++ {
			if names.Value(i) != lname {
				continue
			}
			sc, err := flight.DeserializeSchema(b.Column(4).(*array.Binary).Value(i), nil)
			if err != nil {
				return nil, err
			}
			var out []string
			for _, f := range sc.Fields() {
				typ := f.Type.String()
				if t, err := kernels.FromArrow(f.Type); err == nil {
					typ = t.String()
				}
				out = append(out, f.Name+" "+typ)
			}
			return out, nil
		}
	}
	return nil, fmt.Errorf("relation %q does not exist", name)
}

func (r *remote) Close() error { return r.c.Close() }

// remoteError turns a gRPC status into the server's message, as the
// embedded engine would print it (with the code when it adds something).
func remoteError(err error) error {
	st, ok := status.FromError(err)
	if !ok || err == nil {
		return err
	}
	switch st.Code() {
	case codes.InvalidArgument, codes.Unknown:
		return errors.New(st.Message())
	}
	return fmt.Errorf("%s (%s)", st.Message(), st.Code())
}
