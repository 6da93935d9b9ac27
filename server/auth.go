package server

import (
	"bufio"
	"context"
	"crypto/rand"
	"crypto/subtle"
	"crypto/tls"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"os"
	"strings"
	"sync"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
)

// Users are the credentials a server accepts: passwords for basic
// authentication (exchanged for a bearer token) and long-lived tokens.
// Safe for concurrent use once built.
type Users struct {
	passwords map[string]string // user -> password
	tokens    map[string]string // static token -> user
}

// NewUsers returns an empty set of credentials; add to it with
// AddPassword and AddToken before the server starts.
func NewUsers() *Users {
	return &Users{passwords: map[string]string{}, tokens: map[string]string{}}
}

// AddPassword lets user log in with password.
func (u *Users) AddPassword(user, password string) { u.passwords[user] = password }

// AddToken lets a client authenticate as user with the bearer token.
func (u *Users) AddToken(user, token string) { u.tokens[token] = user }

// LoadUsers reads a users file: one credential per line, "user NAME
// password SECRET" or "token NAME SECRET"; blank lines and lines starting
// with # are skipped. Errors name the file and line.
func LoadUsers(path string) (*Users, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("users file: %w", err)
	}
	defer f.Close()
	u := NewUsers()
	sc := bufio.NewScanner(f)
	for line := 1; sc.Scan(); line++ {
		fs := strings.Fields(sc.Text())
		switch {
		case len(fs) == 0 || strings.HasPrefix(fs[0], "#"):
		case len(fs) == 4 && fs[0] == "user" && fs[2] == "password":
			u.AddPassword(fs[1], fs[3])
		case len(fs) == 3 && fs[0] == "token":
			u.AddToken(fs[1], fs[2])
		default:
			return nil, fmt.Errorf("%s:%d: want \"user NAME password SECRET\" or \"token NAME SECRET\"", path, line)
		}
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("users file %s: %w", path, err)
	}
	if len(u.passwords) == 0 && len(u.tokens) == 0 {
		return nil, fmt.Errorf("users file %s: no credentials", path)
	}
	return u, nil
}

// LoadTLS reads a PEM certificate (chain) and key for serving TLS 1.2+.
func LoadTLS(certFile, keyFile string) (*tls.Config, error) {
	cert, err := tls.LoadX509KeyPair(certFile, keyFile)
	if err != nil {
		return nil, fmt.Errorf("TLS certificate %s / key %s: %w", certFile, keyFile, err)
	}
	return &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}, nil
}

// authenticator checks each call's "authorization" header: "Basic
// base64(user:password)" (answered with a "Bearer TOKEN" header the client
// can use from then on) or "Bearer TOKEN". With no users configured every
// call is let through.
type authenticator struct {
	users *Users
	skip  func(ctx context.Context, method string) bool

	mu     sync.Mutex
	issued map[string]string // token issued at a basic login -> user
}

type userKey struct{}

// userOf returns the authenticated user of a call ("" without auth).
func userOf(ctx context.Context) string {
	u, _ := ctx.Value(userKey{}).(string)
	return u
}

func (a *authenticator) check(ctx context.Context) (context.Context, error) {
	if a.users == nil {
		return ctx, nil
	}
	md, _ := metadata.FromIncomingContext(ctx)
	vals := md.Get("authorization")
	if len(vals) == 0 {
		return nil, status.Error(codes.Unauthenticated, "authentication required: send a Basic or Bearer authorization header")
	}
	scheme, cred, _ := strings.Cut(strings.TrimSpace(vals[0]), " ")
	cred = strings.TrimSpace(cred)
	switch strings.ToLower(scheme) {
	case "basic":
		raw, err := base64.StdEncoding.DecodeString(cred)
		if err != nil {
			raw, err = base64.RawStdEncoding.DecodeString(cred)
		}
		if err != nil {
			return nil, status.Error(codes.Unauthenticated, "malformed basic credentials")
		}
		user, pass, _ := strings.Cut(string(raw), ":")
		want, ok := a.users.passwords[user]
		if !ok || subtle.ConstantTimeCompare([]byte(want), []byte(pass)) != 1 {
			return nil, status.Error(codes.Unauthenticated, "invalid user name or password")
		}
		tok, err := a.issue(user)
		if err != nil {
			return nil, status.Error(codes.Internal, err.Error())
		}
		// The token goes back as a header; clients that keep it send it
		// instead of the password afterwards.
		if err := grpc.SetHeader(ctx, metadata.Pairs("authorization", "Bearer "+tok)); err != nil {
			return nil, status.Error(codes.Internal, err.Error())
		}
		return context.WithValue(ctx, userKey{}, user), nil
	case "bearer":
		if user, ok := a.users.tokens[cred]; ok {
			return context.WithValue(ctx, userKey{}, user), nil
		}
		a.mu.Lock()
		user, ok := a.issued[cred]
		a.mu.Unlock()
		if ok {
			return context.WithValue(ctx, userKey{}, user), nil
		}
		return nil, status.Error(codes.Unauthenticated, "invalid or expired token")
	}
	return nil, status.Errorf(codes.Unauthenticated, "unsupported authorization scheme %q", scheme)
}

// issue returns a fresh random token for user, valid while the server runs.
func (a *authenticator) issue(user string) (string, error) {
	b := make([]byte, 24)
	if _, err := rand.Read(b); err != nil {
		return "", err
	}
	tok := hex.EncodeToString(b)
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.issued == nil {
		a.issued = map[string]string{}
	}
	a.issued[tok] = user
	return tok, nil
}

func (a *authenticator) unary(ctx context.Context, req any, info *grpc.UnaryServerInfo, handler grpc.UnaryHandler) (any, error) {
	if a.skip != nil && a.skip(ctx, info.FullMethod) {
		return handler(ctx, req)
	}
	ctx, err := a.check(ctx)
	if err != nil {
		return nil, err
	}
	return handler(ctx, req)
}

func (a *authenticator) stream(srv any, ss grpc.ServerStream, info *grpc.StreamServerInfo, handler grpc.StreamHandler) error {
	if a.skip != nil && a.skip(ss.Context(), info.FullMethod) {
		return handler(srv, ss)
	}
	ctx, err := a.check(ss.Context())
	if err != nil {
		return err
	}
	return handler(srv, &ctxStream{ServerStream: ss, ctx: ctx})
}

// ctxStream is a server stream with a replaced context.
type ctxStream struct {
	grpc.ServerStream
	ctx context.Context
}

func (s *ctxStream) Context() context.Context { return s.ctx }
