package services_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"log/slog"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/osism/go-osism/osism"
	"github.com/osism/go-osism/osism/osismtest"
	"github.com/osism/go-osism/services"
	"github.com/stretchr/testify/require"
)

// pki is a CA with a server and a client certificate, written as PEM files.
type pki struct {
	CA, ServerCert, ServerKey, ClientCert, ClientKey string
}

func newPKI(t *testing.T) pki {
	t.Helper()
	dir := t.TempDir()
	write := func(name, typ string, der []byte) string {
		p := filepath.Join(dir, name)
		require.NoError(t, os.WriteFile(p, pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der}), 0o600))
		return p
	}
	key := func() *ecdsa.PrivateKey {
		k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		require.NoError(t, err)
		return k
	}
	now := time.Now()
	caKey := key()
	caTmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "osism test CA"},
		NotBefore: now.Add(-time.Hour), NotAfter: now.Add(time.Hour), IsCA: true, BasicConstraintsValid: true,
		KeyUsage: x509.KeyUsageCertSign}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	require.NoError(t, err)
	ca, err := x509.ParseCertificate(caDER)
	require.NoError(t, err)
	issue := func(serial int64, cn string, usage []x509.ExtKeyUsage) (cert, keyFile string) {
		k := key()
		tmpl := &x509.Certificate{SerialNumber: big.NewInt(serial), Subject: pkix.Name{CommonName: cn},
			NotBefore: now.Add(-time.Hour), NotAfter: now.Add(time.Hour), KeyUsage: x509.KeyUsageDigitalSignature,
			ExtKeyUsage: usage, IPAddresses: []net.IP{net.ParseIP("127.0.0.1")}, DNSNames: []string{"localhost"}}
		der, err := x509.CreateCertificate(rand.Reader, tmpl, ca, &k.PublicKey, caKey)
		require.NoError(t, err)
		kder, err := x509.MarshalECPrivateKey(k)
		require.NoError(t, err)
		return write(cn+".pem", "CERTIFICATE", der), write(cn+"-key.pem", "EC PRIVATE KEY", kder)
	}
	p := pki{CA: write("ca.pem", "CERTIFICATE", caDER)}
	// Cluster nodes present their certificate both as server and as client.
	p.ServerCert, p.ServerKey = issue(2, "broker", []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth})
	p.ClientCert, p.ClientKey = issue(3, "worker", []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth})
	return p
}

func TestBrokerTLSWithClientCertificates(t *testing.T) {
	t.Parallel()
	ctx := ctxT(t, 30*time.Second)
	p := newPKI(t)
	b, err := services.NewBroker(services.BrokerConfig{Port: -1, Memory: true, Logger: slog.New(slog.DiscardHandler),
		TLS: services.BrokerTLS{CertFile: p.ServerCert, KeyFile: p.ServerKey, CAFile: p.CA, VerifyClients: true}})
	require.NoError(t, err)
	require.NoError(t, b.Start())
	t.Cleanup(b.Shutdown)

	_, err = nats.Connect(b.URL(), nats.Timeout(2*time.Second))
	require.Error(t, err, "a plain connection is refused")
	_, err = nats.Connect(b.URL(), nats.RootCAs(p.CA), nats.Timeout(2*time.Second))
	require.Error(t, err, "a connection without a client certificate is refused")

	cfg := osism.Config{Broker: osism.ConnConfig{URL: strings.Replace(b.URL(), "nats://", "tls://", 1),
		TLS: osism.TLSConfig{CAFile: p.CA, CertFile: p.ClientCert, KeyFile: p.ClientKey}, TokenFile: b.TokenFile()},
		Tasks: osism.TaskConfig{Storage: osism.StorageMemory}}
	c, err := osism.Dial(ctx, cfg)
	require.NoError(t, err)
	defer c.Close()
	require.True(t, c.Conn().TLSRequired(), "the connection is TLS")

	// In-process connections (the manager's own) need no certificate.
	nc, err := b.Connect()
	require.NoError(t, err)
	defer nc.Close()
	w, err := osism.NewClient(ctx, nc, &osism.ClientOpts{Tasks: cfg.Tasks, Logger: slog.New(slog.DiscardHandler)})
	require.NoError(t, err)
	r, err := w.NewRunner(osism.RunnerConfig{Queues: map[osism.Queue]int{osism.QueueConductor: 1}, Handlers: mustHandlers(t, services.DefaultConfig())})
	require.NoError(t, err)
	rctx, stop := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- r.Run(rctx) }()
	res, err := c.Submit(ctx, osism.NoopArgs{}, nil)
	require.NoError(t, err)
	task, err := c.Wait(ctx, res.ID)
	require.NoError(t, err)
	require.Equal(t, osism.StateSucceeded, task.State, task.Error)
	stop()
	require.NoError(t, <-done)
}

// Three nodes whose routes speak TLS form a cluster that replicates streams.
func TestBrokerClusterRoutesOverTLS(t *testing.T) {
	t.Parallel()
	ctx := ctxT(t, 90*time.Second)
	p := newPKI(t)
	ports := freePorts(t, 3)
	var routes []string
	for _, port := range ports {
		routes = append(routes, fmt.Sprintf("nats-route://127.0.0.1:%d", port))
	}
	nodes := make([]*services.Broker, 3)
	var wg sync.WaitGroup
	for i := range nodes {
		b, err := services.NewBroker(services.BrokerConfig{
			Name: fmt.Sprintf("t%d", i+1), Port: -1, StoreDir: t.TempDir(), Logger: slog.New(slog.DiscardHandler),
			Token: "tls-cluster-token",
			TLS:   services.BrokerTLS{CertFile: p.ServerCert, KeyFile: p.ServerKey, CAFile: p.CA},
			Cluster: services.ClusterConfig{Name: "osism-tls", Port: ports[i], Routes: routes,
				User: "route", Password: "route-secret"},
		})
		require.NoError(t, err)
		nodes[i] = b
		t.Cleanup(b.Shutdown)
		wg.Add(1)
		go func() { defer wg.Done(); require.NoError(t, b.Start()) }()
	}
	wg.Wait()
	cfg := osism.Config{Broker: osism.ConnConfig{URL: nodes[0].URL(), TLS: osism.TLSConfig{CAFile: p.CA}, Token: "tls-cluster-token"},
		Tasks: osism.TaskConfig{Replicas: 3}}
	var c *osism.Client
	osismtest.WaitFor(t, 60*time.Second, func() bool {
		actx, cancel := context.WithTimeout(ctx, 3*time.Second)
		defer cancel()
		var err error
		c, err = osism.Dial(actx, cfg)
		return err == nil
	}, "a client provisions R3 streams on the TLS cluster")
	defer c.Close()
	st, err := c.JetStream().Stream(ctx, osism.TaskStream)
	require.NoError(t, err)
	info, err := st.Info(ctx)
	require.NoError(t, err)
	require.Len(t, info.Cluster.Replicas, 2, "the task stream has two more replicas")
}

func TestBrokerTLSConfigErrors(t *testing.T) {
	t.Parallel()
	p := newPKI(t)
	cases := []struct {
		name string
		tls  services.BrokerTLS
		cl   services.ClusterConfig
		want string
	}{
		{name: "key without certificate", tls: services.BrokerTLS{KeyFile: p.ServerKey}, want: "without a certificate file"},
		{name: "certificate without key", tls: services.BrokerTLS{CertFile: p.ServerCert}, want: "without its key file"},
		{name: "verify without CA", tls: services.BrokerTLS{CertFile: p.ServerCert, KeyFile: p.ServerKey, VerifyClients: true}, want: "needs a CA file"},
		{name: "missing file", tls: services.BrokerTLS{CertFile: p.ServerCert + ".gone", KeyFile: p.ServerKey}, want: "broker.pem.gone"},
		{name: "cluster without CA", tls: services.BrokerTLS{CertFile: p.ServerCert, KeyFile: p.ServerKey},
			cl: services.ClusterConfig{Name: "c"}, want: "cluster routes need a CA file"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := services.NewBroker(services.BrokerConfig{TLS: tc.tls, Cluster: tc.cl})
			require.ErrorContains(t, err, tc.want)
		})
	}
	// A certificate file that is not PEM fails at start, naming TLS.
	bad := filepath.Join(t.TempDir(), "bad.pem")
	require.NoError(t, os.WriteFile(bad, []byte("not a certificate"), 0o600))
	b, err := services.NewBroker(services.BrokerConfig{Port: -1, Memory: true, Logger: slog.New(slog.DiscardHandler),
		TLS: services.BrokerTLS{CertFile: bad, KeyFile: p.ServerKey}})
	require.NoError(t, err)
	require.ErrorContains(t, b.Start(), "broker tls")
}
