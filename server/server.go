// Package server is Bellows' Arrow Flight SQL front end: SQL over gRPC on
// an engine (the embedded one here; the distributed coordinator slots in
// behind the same protocol surface).
//
// Each gRPC connection is one session: its SET/SHOW settings apply to its
// own statements only, and end when the connection closes. A query runs
// when the client fetches its ticket (DoGet), streams its batches as the
// engine produces them, and stops at once when the client cancels
// (CancelFlightInfo) or goes away.
package server

import (
	"context"
	"crypto/rand"
	"crypto/tls"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/flight"
	"github.com/apache/arrow-go/v18/arrow/flight/flightsql"
	pb "github.com/apache/arrow-go/v18/arrow/flight/gen/flight"
	"github.com/apache/arrow-go/v18/arrow/memory"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/stats"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/anypb"

	"github.com/bellows-db/bellows"
	"github.com/bellows-db/bellows/exec"
	"github.com/bellows-db/bellows/sql"
)

// Version is reported as the server version in GetSqlInfo.
const Version = "0.4.0"

// Config configures a Server.
type Config struct {
	// Users, if set, are the only credentials accepted; nil lets every
	// client in (a warning is logged).
	Users *Users
	// TLS, if set, serves over TLS with this configuration.
	TLS *tls.Config
	// Log receives the server's structured log; nil discards it.
	Log *slog.Logger
	// MaxMessageBytes bounds a received gRPC message (default 16 MiB);
	// larger ones are refused with ResourceExhausted.
	MaxMessageBytes int
	// HandleTTL is how long a statement ticket or handle that no one
	// fetches is kept (default 10 minutes).
	HandleTTL time.Duration
	// Actions, if set, serves Flight actions of other services on the
	// same port (a coordinator's cluster RPC): it reports whether it
	// handled the action; unhandled ones go to Flight SQL.
	Actions func(a *flight.Action, stream flight.FlightService_DoActionServer) (bool, error)
	// Unauthenticated, if set, lets calls it accepts skip the user check
	// (they authenticate otherwise, e.g. with the cluster token).
	Unauthenticated func(ctx context.Context, method string) bool
}

// withActions puts a coordinator's extra actions before Flight SQL's.
type withActions struct {
	flight.FlightServer
	actions func(a *flight.Action, stream flight.FlightService_DoActionServer) (bool, error)
}

func (w withActions) DoAction(a *flight.Action, stream flight.FlightService_DoActionServer) error {
	if ok, err := w.actions(a, stream); ok {
		return err
	}
	return w.FlightServer.DoAction(a, stream)
}

// Server serves Flight SQL on a DB. Create it with New, run it with Serve,
// stop it with Stop (or GracefulStop). Safe for concurrent use.
type Server struct {
	flightsql.BaseServer

	db   *bellows.DB
	cfg  Config
	log  *slog.Logger
	grpc *grpc.Server
	auth *authenticator

	mu       sync.Mutex
	sessions map[uint64]*bellows.Session
	pending  map[string]*pending           // planned, not yet fetched
	prepared map[string]*prepared          // prepared statements
	running  map[string]context.CancelFunc // fetched and running
	nextConn atomic.Uint64
}

// pending is a statement GetFlightInfo planned and DoGet runs.
type pending struct {
	stmt    *bellows.Stmt
	params  []bellows.Param
	expires time.Time
}

// prepared is a prepared statement and its last bound parameter rows.
type prepared struct {
	conn    uint64
	stmt    *bellows.Stmt
	params  [][]bellows.Param
	expires time.Time // refreshed on each use
}

// New returns a server over db. The caller keeps db and closes it after
// the server has stopped.
func New(db *bellows.DB, cfg Config) (*Server, error) {
	if cfg.Log == nil {
		cfg.Log = slog.New(slog.DiscardHandler)
	}
	if cfg.MaxMessageBytes <= 0 {
		cfg.MaxMessageBytes = 16 << 20
	}
	if cfg.HandleTTL <= 0 {
		cfg.HandleTTL = 10 * time.Minute
	}
	s := &Server{db: db, cfg: cfg, log: cfg.Log, auth: &authenticator{users: cfg.Users, skip: cfg.Unauthenticated},
		sessions: map[uint64]*bellows.Session{}, pending: map[string]*pending{},
		prepared: map[string]*prepared{}, running: map[string]context.CancelFunc{}}
	s.Alloc = memory.DefaultAllocator
	if err := s.registerSQLInfo(); err != nil {
		return nil, err
	}
	opts := []grpc.ServerOption{
		grpc.ChainUnaryInterceptor(s.auth.unary),
		grpc.ChainStreamInterceptor(s.auth.stream),
		grpc.StatsHandler(&connTracker{s: s}),
		grpc.MaxRecvMsgSize(cfg.MaxMessageBytes),
	}
	if cfg.TLS != nil {
		opts = append(opts, grpc.Creds(credentials.NewTLS(cfg.TLS)))
	}
	s.grpc = grpc.NewServer(opts...)
	var fs flight.FlightServer = flightsql.NewFlightServer(s)
	if cfg.Actions != nil {
		fs = withActions{FlightServer: fs, actions: cfg.Actions}
	}
	flight.RegisterFlightServiceServer(s.grpc, fs)
	if cfg.Users == nil {
		s.log.Warn("no users configured: every client is let in")
	}
	return s, nil
}

// Serve accepts connections on lis until Stop; it returns nil after a
// stop.
func (s *Server) Serve(lis net.Listener) error {
	s.log.Info("serving Flight SQL", "addr", lis.Addr().String(), "tls", s.cfg.TLS != nil, "auth", s.cfg.Users != nil)
	err := s.grpc.Serve(lis)
	if errors.Is(err, grpc.ErrServerStopped) {
		return nil
	}
	return err
}

// Stop cancels every running query, then stops the server, closing open
// connections.
func (s *Server) Stop() {
	s.cancelAll()
	s.grpc.Stop()
}

// GracefulStop cancels the running queries (their clients get a
// Cancelled error) and waits for the calls in flight to return.
func (s *Server) GracefulStop() {
	s.cancelAll()
	s.grpc.GracefulStop()
}

func (s *Server) cancelAll() {
	s.mu.Lock()
	defer s.mu.Unlock()
	for h, cancel := range s.running {
		cancel()
		delete(s.running, h)
	}
}

// --- connections and sessions ---

type connKey struct{}

// connTracker gives every connection an id (in its context) and drops its
// session and prepared statements when it closes.
type connTracker struct{ s *Server }

func (c *connTracker) TagConn(ctx context.Context, _ *stats.ConnTagInfo) context.Context {
	return context.WithValue(ctx, connKey{}, c.s.nextConn.Add(1))
}

func (c *connTracker) HandleConn(ctx context.Context, st stats.ConnStats) {
	id, _ := ctx.Value(connKey{}).(uint64)
	if _, ok := st.(*stats.ConnBegin); ok {
		c.s.log.Debug("connection opened", "conn", id)
	}
	if _, ok := st.(*stats.ConnEnd); !ok {
		return
	}
	c.s.log.Debug("connection closed", "conn", id)
	c.s.mu.Lock()
	defer c.s.mu.Unlock()
	delete(c.s.sessions, id)
	for h, p := range c.s.prepared {
		if p.conn == id {
			delete(c.s.prepared, h)
		}
	}
}

func (c *connTracker) TagRPC(ctx context.Context, _ *stats.RPCTagInfo) context.Context { return ctx }
func (c *connTracker) HandleRPC(context.Context, stats.RPCStats)                       {}

// session returns the calling connection's session, made on first use.
func (s *Server) session(ctx context.Context) (*bellows.Session, uint64) {
	id, _ := ctx.Value(connKey{}).(uint64)
	s.mu.Lock()
	defer s.mu.Unlock()
	sess, ok := s.sessions[id]
	if !ok {
		sess = s.db.NewSession()
		s.sessions[id] = sess
	}
	return sess, id
}

// Sessions returns the number of open connections with a session.
func (s *Server) Sessions() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.sessions)
}

// clip shortens SQL text for the log.
func clip(sql string) string {
	if len(sql) > 200 {
		return sql[:200] + "..."
	}
	return sql
}

func newHandle() string {
	b := make([]byte, 16)
	if _, err := rand.Read(b); err != nil {
		panic(err) // crypto/rand does not fail on supported platforms
	}
	return hex.EncodeToString(b)
}

// sweep drops handles no one used within the TTL. Called with s.mu held.
func (s *Server) sweep(now time.Time) {
	for h, p := range s.pending {
		if now.After(p.expires) {
			delete(s.pending, h)
		}
	}
	for h, p := range s.prepared {
		if now.After(p.expires) {
			delete(s.prepared, h)
		}
	}
}

// --- errors ---

// grpcError maps an engine error to a gRPC status: bad SQL or data is
// InvalidArgument, a memory limit ResourceExhausted, a timeout
// DeadlineExceeded, a cancel Cancelled.
func grpcError(err error) error {
	if err == nil {
		return nil
	}
	if st, ok := status.FromError(err); ok && st.Code() != codes.Unknown {
		return err // already a gRPC status
	}
	var memErr *exec.ErrMemoryLimit
	var sqlErr *sql.Error
	switch {
	case errors.Is(err, context.Canceled):
		return status.Error(codes.Canceled, "query cancelled")
	case errors.Is(err, bellows.ErrStatementTimeout), errors.Is(err, context.DeadlineExceeded):
		return status.Error(codes.DeadlineExceeded, err.Error())
	case errors.As(err, &memErr):
		return status.Error(codes.ResourceExhausted, err.Error())
	case errors.As(err, &sqlErr):
		return status.Error(codes.InvalidArgument, err.Error())
	case strings.HasPrefix(err.Error(), "internal error"):
		return status.Error(codes.Internal, err.Error())
	}
	return status.Error(codes.InvalidArgument, err.Error())
}

// --- statements ---

func (s *Server) infoFor(desc *flight.FlightDescriptor, schema *arrow.Schema, ticket []byte) *flight.FlightInfo {
	if schema == nil {
		schema = arrow.NewSchema(nil, nil)
	}
	return &flight.FlightInfo{
		Endpoint:         []*flight.FlightEndpoint{{Ticket: &flight.Ticket{Ticket: ticket}}},
		FlightDescriptor: desc,
		Schema:           flight.SerializeSchema(schema, s.Alloc),
		TotalRecords:     -1,
		TotalBytes:       -1,
	}
}

// plan keeps stmt with params as a pending statement and returns its
// ticket.
func (s *Server) plan(stmt *bellows.Stmt, params []bellows.Param) ([]byte, error) {
	h := newHandle()
	now := time.Now()
	s.mu.Lock()
	s.sweep(now)
	s.pending[h] = &pending{stmt: stmt, params: params, expires: now.Add(s.cfg.HandleTTL)}
	s.mu.Unlock()
	return flightsql.CreateStatementQueryTicket([]byte(h))
}

// GetFlightInfoStatement plans a query; DoGetStatement runs it.
func (s *Server) GetFlightInfoStatement(ctx context.Context, cmd flightsql.StatementQuery, desc *flight.FlightDescriptor) (*flight.FlightInfo, error) {
	sess, conn := s.session(ctx)
	stmt, err := sess.Prepare(cmd.GetQuery())
	if err != nil {
		s.log.Debug("statement rejected", "conn", conn, "user", userOf(ctx), "sql", clip(cmd.GetQuery()), "err", err)
		return nil, grpcError(err)
	}
	tkt, err := s.plan(stmt, nil)
	if err != nil {
		return nil, grpcError(err)
	}
	return s.infoFor(desc, stmt.Schema(), tkt), nil
}

// GetSchemaStatement returns a query's result schema without running it.
func (s *Server) GetSchemaStatement(ctx context.Context, cmd flightsql.StatementQuery, _ *flight.FlightDescriptor) (*flight.SchemaResult, error) {
	sess, _ := s.session(ctx)
	stmt, err := sess.Prepare(cmd.GetQuery())
	if err != nil {
		return nil, grpcError(err)
	}
	sc := stmt.Schema()
	if sc == nil {
		sc = arrow.NewSchema(nil, nil)
	}
	return &flight.SchemaResult{Schema: flight.SerializeSchema(sc, s.Alloc)}, nil
}

// DoGetStatement runs a planned statement and streams its batches.
func (s *Server) DoGetStatement(ctx context.Context, tkt flightsql.StatementQueryTicket) (*arrow.Schema, <-chan flight.StreamChunk, error) {
	h := string(tkt.GetStatementHandle())
	s.mu.Lock()
	p, ok := s.pending[h]
	delete(s.pending, h)
	s.mu.Unlock()
	if !ok {
		return nil, nil, status.Error(codes.NotFound, "unknown or expired statement handle (a ticket is good for one fetch)")
	}
	return s.stream(ctx, h, func(qctx context.Context) (*bellows.Rows, error) { return p.stmt.Query(qctx, p.params...) })
}

// stream starts a query under a context that CancelFlightInfo (by handle
// h), the client's going away and Stop all cancel, and forwards its
// batches.
func (s *Server) stream(ctx context.Context, h string, start func(context.Context) (*bellows.Rows, error)) (*arrow.Schema, <-chan flight.StreamChunk, error) {
	qctx, cancel := context.WithCancel(ctx)
	s.mu.Lock()
	s.running[h] = cancel
	s.mu.Unlock()
	done := func() {
		cancel()
		s.mu.Lock()
		delete(s.running, h)
		s.mu.Unlock()
	}
	rows, err := start(qctx)
	if err != nil {
		done()
		return nil, nil, grpcError(err)
	}
	ch := make(chan flight.StreamChunk, 2)
	t0 := time.Now()
	go func() {
		var sent int64
		defer close(ch)
		defer done()
		defer rows.Release()
		// send hands a chunk to the client's stream; false once the client
		// is gone (ctx) or the query was cancelled (qctx).
		send := func(c flight.StreamChunk) bool {
			select {
			case ch <- c:
				return true
			case <-qctx.Done():
				return false
			}
		}
		for rows.Next() {
			sent += rows.RecordBatch().NumRows()
			for _, piece := range splitBatch(rows.RecordBatch(), maxChunkBytes) {
				if !send(flight.StreamChunk{Data: piece}) {
					piece.Release()
					break
				}
			}
			if qctx.Err() != nil {
				break
			}
		}
		err := rows.Err()
		if err == nil && qctx.Err() != nil {
			err = context.Canceled // cancelled between two batches
		}
		s.log.Debug("query finished", "handle", h, "user", userOf(ctx), "rows", sent, "elapsed", time.Since(t0), "err", err)
		if err != nil && ctx.Err() == nil {
			// The client is still there: it must not take a cut-short
			// result for a whole one.
			select {
			case ch <- flight.StreamChunk{Err: grpcError(err)}:
			case <-ctx.Done():
			}
		}
	}()
	return rows.Schema(), ch, nil
}

// maxChunkBytes bounds the batches sent to a client: gRPC clients refuse
// messages over 4 MiB by default, and one engine batch of wide rows (or
// of a join that multiplies rows) can be far larger.
const maxChunkBytes = 2 << 20

// splitBatch returns b (retained) in slices of about maxBytes each.
func splitBatch(b arrow.RecordBatch, maxBytes int64) []arrow.RecordBatch {
	n := b.NumRows()
	size := exec.BatchBytes(b)
	if size <= maxBytes || n <= 1 {
		b.Retain()
		return []arrow.RecordBatch{b}
	}
	per := max(1, n*maxBytes/size)
	out := make([]arrow.RecordBatch, 0, (n+per-1)/per)
	for i := int64(0); i < n; i += per {
		out = append(out, b.NewSlice(i, min(i+per, n)))
	}
	return out
}

// DoPutCommandStatementUpdate runs a statement for its effect and returns
// the rows it wrote.
func (s *Server) DoPutCommandStatementUpdate(ctx context.Context, cmd flightsql.StatementUpdate) (int64, error) {
	sess, conn := s.session(ctx)
	t0 := time.Now()
	res, err := sess.Exec(ctx, cmd.GetQuery())
	if err != nil {
		s.log.Debug("update failed", "conn", conn, "user", userOf(ctx), "sql", clip(cmd.GetQuery()), "err", err)
		return 0, grpcError(err)
	}
	s.log.Debug("update", "conn", conn, "user", userOf(ctx), "sql", clip(cmd.GetQuery()), "rows", res.RowsAffected, "elapsed", time.Since(t0))
	return res.RowsAffected, nil
}

// --- prepared statements ---

// CreatePreparedStatement prepares a statement for the calling
// connection.
func (s *Server) CreatePreparedStatement(ctx context.Context, req flightsql.ActionCreatePreparedStatementRequest) (flightsql.ActionCreatePreparedStatementResult, error) {
	var res flightsql.ActionCreatePreparedStatementResult
	if len(req.GetTransactionId()) > 0 {
		return res, status.Error(codes.Unimplemented, "transactions are not supported")
	}
	sess, conn := s.session(ctx)
	stmt, err := sess.Prepare(req.GetQuery())
	if err != nil {
		return res, grpcError(err)
	}
	h := newHandle()
	now := time.Now()
	s.mu.Lock()
	s.sweep(now)
	s.prepared[h] = &prepared{conn: conn, stmt: stmt, expires: now.Add(s.cfg.HandleTTL)}
	s.mu.Unlock()
	res.Handle = []byte(h)
	res.DatasetSchema = stmt.Schema()
	// No parameter schema: the engine takes a parameter of any type and
	// coerces it where it is used, so clients bind the types they have
	// (a schema would make drivers build their batches in its types).
	isUpdate := stmt.Schema() == nil
	res.IsUpdate = &isUpdate
	return res, nil
}

// preparedOf looks a prepared statement up and refreshes its lifetime.
func (s *Server) preparedOf(handle []byte) (*prepared, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	p, ok := s.prepared[string(handle)]
	if !ok {
		return nil, status.Error(codes.NotFound, "unknown or closed prepared statement handle")
	}
	p.expires = time.Now().Add(s.cfg.HandleTTL)
	return p, nil
}

// ClosePreparedStatement frees a prepared statement.
func (s *Server) ClosePreparedStatement(_ context.Context, req flightsql.ActionClosePreparedStatementRequest) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	h := string(req.GetPreparedStatementHandle())
	if _, ok := s.prepared[h]; !ok {
		return status.Error(codes.NotFound, "unknown or closed prepared statement handle")
	}
	delete(s.prepared, h)
	return nil
}

// readParams reads the parameter rows a client binds.
func readParams(rdr flight.MessageReader) ([][]bellows.Param, error) {
	var rows [][]bellows.Param
	for rdr.Next() {
		b := rdr.RecordBatch()
		for i := 0; i < int(b.NumRows()); i++ {
			row := make([]bellows.Param, b.NumCols())
			for c := range row {
				p, err := bellows.ParamFromArrow(b.Column(c), i)
				if err != nil {
					return nil, status.Errorf(codes.InvalidArgument, "parameter $%d of row %d: %v", c+1, i+1, err)
				}
				row[c] = p
			}
			rows = append(rows, row)
		}
	}
	if err := rdr.Err(); err != nil {
		return nil, grpcError(err)
	}
	return rows, nil
}

// DoPutPreparedStatementQuery binds parameters to a prepared query.
func (s *Server) DoPutPreparedStatementQuery(_ context.Context, cmd flightsql.PreparedStatementQuery, rdr flight.MessageReader, _ flight.MetadataWriter) ([]byte, error) {
	p, err := s.preparedOf(cmd.GetPreparedStatementHandle())
	if err != nil {
		return nil, err
	}
	rows, err := readParams(rdr)
	if err != nil {
		return nil, err
	}
	if len(rows) > 1 {
		return nil, status.Errorf(codes.InvalidArgument, "a query binds one parameter row, got %d", len(rows))
	}
	s.mu.Lock()
	p.params = rows
	s.mu.Unlock()
	return cmd.GetPreparedStatementHandle(), nil
}

// GetFlightInfoPreparedStatement plans the prepared query with its bound
// parameters; the ticket is a statement ticket (DoGetStatement).
func (s *Server) GetFlightInfoPreparedStatement(_ context.Context, cmd flightsql.PreparedStatementQuery, desc *flight.FlightDescriptor) (*flight.FlightInfo, error) {
	p, err := s.preparedOf(cmd.GetPreparedStatementHandle())
	if err != nil {
		return nil, err
	}
	s.mu.Lock()
	var params []bellows.Param
	if len(p.params) > 0 {
		params = p.params[0]
	}
	s.mu.Unlock()
	tkt, err := s.plan(p.stmt, params)
	if err != nil {
		return nil, grpcError(err)
	}
	return s.infoFor(desc, p.stmt.Schema(), tkt), nil
}

// GetSchemaPreparedStatement returns a prepared statement's result schema.
func (s *Server) GetSchemaPreparedStatement(_ context.Context, cmd flightsql.PreparedStatementQuery, _ *flight.FlightDescriptor) (*flight.SchemaResult, error) {
	p, err := s.preparedOf(cmd.GetPreparedStatementHandle())
	if err != nil {
		return nil, err
	}
	sc := p.stmt.Schema()
	if sc == nil {
		sc = arrow.NewSchema(nil, nil)
	}
	return &flight.SchemaResult{Schema: flight.SerializeSchema(sc, s.Alloc)}, nil
}

// DoGetPreparedStatement runs a prepared query fetched with its own
// command as the ticket.
func (s *Server) DoGetPreparedStatement(ctx context.Context, cmd flightsql.PreparedStatementQuery) (*arrow.Schema, <-chan flight.StreamChunk, error) {
	p, err := s.preparedOf(cmd.GetPreparedStatementHandle())
	if err != nil {
		return nil, nil, err
	}
	s.mu.Lock()
	var params []bellows.Param
	if len(p.params) > 0 {
		params = p.params[0]
	}
	s.mu.Unlock()
	return s.stream(ctx, newHandle(), func(qctx context.Context) (*bellows.Rows, error) { return p.stmt.Query(qctx, params...) })
}

// DoPutPreparedStatementUpdate executes a prepared statement once per
// bound parameter row (once without parameters) and returns the total
// rows written.
func (s *Server) DoPutPreparedStatementUpdate(ctx context.Context, cmd flightsql.PreparedStatementUpdate, rdr flight.MessageReader) (int64, error) {
	p, err := s.preparedOf(cmd.GetPreparedStatementHandle())
	if err != nil {
		return 0, err
	}
	rows, err := readParams(rdr)
	if err != nil {
		return 0, err
	}
	if len(rows) == 0 {
		rows = [][]bellows.Param{nil}
	}
	var total int64
	for _, ps := range rows {
		res, err := p.stmt.Exec(ctx, ps...)
		if err != nil {
			return total, grpcError(err)
		}
		total += res.RowsAffected
	}
	return total, nil
}

// --- cancellation ---

// CancelFlightInfo stops the queries of the info's tickets: running ones
// at once, planned ones before they start.
func (s *Server) CancelFlightInfo(_ context.Context, req *flight.CancelFlightInfoRequest) (flight.CancelFlightInfoResult, error) {
	info := req.GetInfo()
	if info == nil || len(info.GetEndpoint()) == 0 {
		return flight.CancelFlightInfoResult{Status: flight.CancelStatusNotCancellable}, status.Error(codes.InvalidArgument, "no flight info to cancel")
	}
	found := false
	for _, ep := range info.GetEndpoint() {
		h, err := ticketHandle(ep.GetTicket().GetTicket())
		if err != nil {
			return flight.CancelFlightInfoResult{Status: flight.CancelStatusNotCancellable}, err
		}
		s.mu.Lock()
		if cancel, ok := s.running[h]; ok {
			cancel()
			delete(s.running, h)
			found = true
		}
		if _, ok := s.pending[h]; ok {
			delete(s.pending, h)
			found = true
		}
		s.mu.Unlock()
	}
	if !found {
		return flight.CancelFlightInfoResult{Status: flight.CancelStatusNotCancellable}, nil
	}
	return flight.CancelFlightInfoResult{Status: flight.CancelStatusCancelled}, nil
}

// CancelQuery is the deprecated form of CancelFlightInfo.
func (s *Server) CancelQuery(ctx context.Context, req flightsql.ActionCancelQueryRequest) (flightsql.CancelResult, error) {
	res, err := s.CancelFlightInfo(ctx, &flight.CancelFlightInfoRequest{Info: req.GetInfo()})
	if err != nil {
		return flightsql.CancelResultUnspecified, err
	}
	if res.Status == flight.CancelStatusCancelled {
		return flightsql.CancelResultCancelled, nil
	}
	return flightsql.CancelResultNotCancellable, nil
}

// ticketHandle decodes a statement ticket into its handle.
func ticketHandle(tkt []byte) (string, error) {
	var a anypb.Any
	if err := proto.Unmarshal(tkt, &a); err != nil {
		return "", status.Errorf(codes.InvalidArgument, "malformed ticket: %v", err)
	}
	var q pb.TicketStatementQuery
	if err := a.UnmarshalTo(&q); err != nil {
		return "", status.Errorf(codes.InvalidArgument, "not a statement ticket: %v", err)
	}
	return string(q.GetStatementHandle()), nil
}

// --- Flight session options (the same settings as SET / SHOW) ---

// SetSessionOptions sets (or, given no value, resets) session settings.
func (s *Server) SetSessionOptions(ctx context.Context, req *flight.SetSessionOptionsRequest) (*flight.SetSessionOptionsResult, error) {
	sess, _ := s.session(ctx)
	res := &flight.SetSessionOptionsResult{Errors: map[string]*flight.SetSessionOptionsResultError{}}
	for name, v := range req.GetSessionOptions() {
		known := false
		for _, n := range bellows.SettingNames {
			known = known || strings.EqualFold(n, name)
		}
		if !known {
			res.Errors[name] = &flight.SetSessionOptionsResultError{Value: flight.SetSessionOptionsResultErrorInvalidName}
			continue
		}
		var err error
		switch x := v.GetOptionValue().(type) {
		case nil:
			err = sess.Reset(name)
		case *pb.SessionOptionValue_StringValue:
			err = sess.Set(name, x.StringValue)
		case *pb.SessionOptionValue_Int64Value:
			err = sess.Set(name, strconv.FormatInt(x.Int64Value, 10))
		case *pb.SessionOptionValue_DoubleValue:
			err = sess.Set(name, strconv.FormatFloat(x.DoubleValue, 'f', -1, 64))
		default:
			err = fmt.Errorf("unsupported value type %T", x)
		}
		if err != nil {
			res.Errors[name] = &flight.SetSessionOptionsResultError{Value: flight.SetSessionOptionsResultErrorInvalidValue}
		}
	}
	return res, nil
}

// GetSessionOptions returns the session's settings as strings.
func (s *Server) GetSessionOptions(ctx context.Context, _ *flight.GetSessionOptionsRequest) (*flight.GetSessionOptionsResult, error) {
	sess, _ := s.session(ctx)
	out := map[string]*flight.SessionOptionValue{}
	for _, n := range bellows.SettingNames {
		v, err := sess.Show(n)
		if err != nil {
			return nil, grpcError(err)
		}
		out[n] = &flight.SessionOptionValue{OptionValue: &pb.SessionOptionValue_StringValue{StringValue: v}}
	}
	return &flight.GetSessionOptionsResult{SessionOptions: out}, nil
}

// CloseSession drops the connection's settings and prepared statements;
// the next call starts a fresh session.
func (s *Server) CloseSession(ctx context.Context, _ *flight.CloseSessionRequest) (*flight.CloseSessionResult, error) {
	id, _ := ctx.Value(connKey{}).(uint64)
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.sessions, id)
	for h, p := range s.prepared {
		if p.conn == id {
			delete(s.prepared, h)
		}
	}
	return &flight.CloseSessionResult{Status: flight.CloseSessionResultClosed}, nil
}
