package cluster

import (
	"context"
	"net"
	"os"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/health"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"

	"github.com/bellows-db/bellows/internal/testcerts"
)

// serve starts a gRPC server (the health service) with sec's server
// options on loopback and returns its address.
func serve(t *testing.T, sec Security) string {
	t.Helper()
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	g := grpc.NewServer(sec.ServerOptions()...)
	healthpb.RegisterHealthServer(g, health.NewServer())
	go g.Serve(lis)
	t.Cleanup(g.Stop)
	return lis.Addr().String()
}

// call makes one call to addr as a node with sec; nil if it got through.
func call(t *testing.T, addr string, sec Security) error {
	t.Helper()
	conn, err := grpc.NewClient(addr, sec.DialOptions()...)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_, err = healthpb.NewHealthClient(conn).Check(ctx, &healthpb.HealthCheckRequest{})
	return err
}

// TestSecurity checks node-to-node gRPC over real loopback connections:
// with TLS and the token a call goes through; without TLS, with a
// certificate of another CA, or without the token it is refused.
func TestSecurity(t *testing.T) {
	dir := t.TempDir()
	good, err := testcerts.Write(dir, "cluster")
	if err != nil {
		t.Fatal(err)
	}
	other, err := testcerts.Write(dir, "other")
	if err != nil {
		t.Fatal(err)
	}
	tlsGood, err := LoadTLS(good.Cert, good.Key, good.CA)
	if err != nil {
		t.Fatal(err)
	}
	tlsOther, err := LoadTLS(other.Cert, other.Key, other.CA)
	if err != nil {
		t.Fatal(err)
	}
	// A node whose own certificate is another CA's but that trusts ours.
	tlsStranger, err := LoadTLS(other.Cert, other.Key, good.CA)
	if err != nil {
		t.Fatal(err)
	}
	const token = "s3cret"
	node := Security{Token: token, TLS: tlsGood}
	addr := serve(t, node)
	if err := call(t, addr, node); err != nil {
		t.Fatalf("a node with the CA's certificate and the token: %v", err)
	}
	for _, c := range []struct {
		name string
		sec  Security
		want string
	}{
		{"plaintext", Security{Token: token}, "Unavailable"},
		{"a server certificate it does not trust", Security{Token: token, TLS: tlsOther}, "certificate"},
		{"its own certificate from another CA", Security{Token: token, TLS: tlsStranger}, "Unavailable"},
		{"no token", Security{TLS: tlsGood}, "cluster token"},
		{"another token", Security{Token: "guess", TLS: tlsGood}, "cluster token"},
	} {
		err := call(t, addr, c.sec)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: got %v, want an error with %q", c.name, err, c.want)
		}
	}
	// Without TLS the token alone still guards the calls.
	plain := serve(t, Security{Token: token})
	if err := call(t, plain, Security{Token: token}); err != nil {
		t.Fatalf("plaintext with the token: %v", err)
	}
	if err := call(t, plain, Security{}); err == nil {
		t.Fatal("plaintext without the token got through")
	}
	if _, err := LoadTLS(good.Cert, good.Key, ""); err == nil || !strings.Contains(err.Error(), "--tls-ca") {
		t.Fatalf("TLS without a CA: %v", err)
	}
	if _, err := LoadTLS(good.Cert, good.Key, good.Key); err == nil || !strings.Contains(err.Error(), good.Key) {
		t.Fatalf("a CA file without certificates: %v", err)
	}
}

// TestMachineFacts checks what a node announces about its machine: the
// RAM from /proc/meminfo (on Linux) and as many GPUs as the NVIDIA
// driver lists (none where it is absent).
func TestMachineFacts(t *testing.T) {
	if _, err := os.Stat("/proc/meminfo"); err == nil && MemoryBytes() < 64<<20 {
		t.Fatalf("MemoryBytes = %d", MemoryBytes())
	}
	es, _ := os.ReadDir("/proc/driver/nvidia/gpus")
	if DetectGPUs() != len(es) {
		t.Fatalf("DetectGPUs = %d, the driver lists %d", DetectGPUs(), len(es))
	}
}
