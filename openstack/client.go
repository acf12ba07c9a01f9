package openstack

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net/http"
	"os"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/gophercloud/gophercloud/v2"
	gos "github.com/gophercloud/gophercloud/v2/openstack"
)

// LatestMicroversion is the newest bare-metal API microversion this
// package knows: NewBareMetal asks for min(the server's maximum, this).
const LatestMicroversion = "1.82"

// Feature is something the bare-metal API offers from a microversion on.
type Feature string

// Features that change what this package sends.
const (
	FeatureManage             Feature = "manage"               // 1.4: enroll/manage/provide verbs
	FeatureNodeNames          Feature = "node names"           // 1.5: a node addressed by name
	FeatureManualClean        Feature = "manual clean"         // 1.15: clean with steps
	FeatureAdopt              Feature = "adopt"                // 1.17
	FeatureSoftPower          Feature = "soft power"           // 1.27: soft power off, soft reboot, power timeout
	FeatureRebuildConfigDrive Feature = "rebuild config drive" // 1.35
	FeatureRescue             Feature = "rescue"               // 1.38
	FeatureConfigDriveJSON    Feature = "config drive json"    // 1.56: a config drive as a JSON object
	FeatureDeploySteps        Feature = "deploy steps"         // 1.69
)

var featureVersions = map[Feature]string{
	FeatureManage: "1.4", FeatureNodeNames: "1.5", FeatureManualClean: "1.15", FeatureAdopt: "1.17",
	FeatureSoftPower: "1.27", FeatureRebuildConfigDrive: "1.35", FeatureRescue: "1.38",
	FeatureConfigDriveJSON: "1.56", FeatureDeploySteps: "1.69",
}

// FeatureVersion returns the microversion that brought f ("" if unknown).
func FeatureVersion(f Feature) string { return featureVersions[f] }

// BareMetal is a client of the bare-metal service (Ironic). It is safe for
// concurrent use; its microversion is negotiated once, by NewBareMetal.
type BareMetal struct {
	sc       *gophercloud.ServiceClient
	version  version
	requests atomic.Int64
	wait     WaitOpts
}

// NewBareMetal authenticates as cfg says (noauth endpoint, clouds.yaml
// cloud, or OS_* variables; Config documents the order), finds the
// bare-metal endpoint and negotiates the microversion with one GET of the
// endpoint's root. clouds.yaml is looked for in CloudsSearchPath of the
// user's home.
func NewBareMetal(ctx context.Context, cfg Config) (*BareMetal, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if cfg.Cloud != "" {
		home, _ := os.UserHomeDir()
		var err error
		if cfg, err = cfg.ResolveCloud(CloudsSearchPath(cfg.ConfigHome, home)); err != nil {
			return nil, err
		}
	}
	bm := &BareMetal{}
	hc, err := bm.httpClient(cfg)
	if err != nil {
		return nil, err
	}
	if cfg.Endpoint != "" {
		if err := checkURL("openstack.endpoint (OS_ENDPOINT)", cfg.Endpoint); err != nil {
			return nil, err
		}
		root := strings.TrimSuffix(strings.TrimRight(cfg.Endpoint, "/"), "/v1") + "/"
		bm.sc = &gophercloud.ServiceClient{
			ProviderClient: &gophercloud.ProviderClient{HTTPClient: hc},
			Endpoint:       root, ResourceBase: root + "v1/", Type: "baremetal",
		}
	} else {
		if err := cfg.checkKeystone(); err != nil {
			return nil, err
		}
		pc, err := gos.NewClient(cfg.AuthURL)
		if err != nil {
			return nil, fmt.Errorf("openstack: auth_url %s: %w", cfg.AuthURL, err)
		}
		pc.HTTPClient = hc
		ao := gophercloud.AuthOptions{
			IdentityEndpoint: cfg.AuthURL, Username: cfg.Username, Password: string(cfg.Password),
			TenantName: cfg.ProjectName, TenantID: cfg.ProjectID, DomainName: cfg.UserDomainName,
			ApplicationCredentialID: cfg.ApplicationCredentialID, ApplicationCredentialName: cfg.ApplicationCredentialName,
			ApplicationCredentialSecret: string(cfg.ApplicationCredentialSecret), AllowReauth: true,
		}
		if ao.ApplicationCredentialSecret != "" {
			ao.TenantName, ao.TenantID = "", ""
		} else if cfg.ProjectName != "" && cfg.ProjectDomainName != "" {
			ao.Scope = &gophercloud.AuthScope{ProjectName: cfg.ProjectName, DomainName: cfg.ProjectDomainName}
		}
		if err := gos.Authenticate(ctx, pc, ao); err != nil {
			return nil, fmt.Errorf("openstack: authenticate at %s as %q: %w", cfg.AuthURL, cfg.Username, cleanErr(err))
		}
		sc, err := gos.NewBareMetalV1(pc, gophercloud.EndpointOpts{Region: cfg.RegionName, Availability: availability(cfg.Interface)})
		if err != nil {
			return nil, fmt.Errorf("openstack: no bare-metal endpoint in the catalog (region %q, interface %q): %w", cfg.RegionName, cfg.Interface, err)
		}
		root := strings.TrimSuffix(strings.TrimRight(sc.Endpoint, "/"), "/v1") + "/"
		sc.Endpoint, sc.ResourceBase = root, root+"v1/"
		bm.sc = sc
	}
	if err := bm.negotiate(ctx); err != nil {
		return nil, err
	}
	return bm, nil
}

func availability(iface string) gophercloud.Availability {
	switch iface {
	case "internal", "internalURL":
		return gophercloud.AvailabilityInternal
	case "admin", "adminURL":
		return gophercloud.AvailabilityAdmin
	}
	return gophercloud.AvailabilityPublic
}

// countingTransport counts the requests of a client.
type countingTransport struct {
	base http.RoundTripper
	n    *atomic.Int64
}

func (t countingTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	t.n.Add(1)
	return t.base.RoundTrip(r)
}

func (bm *BareMetal) httpClient(cfg Config) (http.Client, error) {
	tr := http.DefaultTransport.(*http.Transport).Clone()
	if cfg.CACert != "" || cfg.Insecure {
		tc := &tls.Config{MinVersion: tls.VersionTLS12, InsecureSkipVerify: cfg.Insecure} //nolint:gosec // the operator asked for it
		if cfg.CACert != "" {
			pem, err := os.ReadFile(cfg.CACert)
			if err != nil {
				return http.Client{}, fmt.Errorf("openstack: cacert (OS_CACERT): %w", err)
			}
			pool := x509.NewCertPool()
			if !pool.AppendCertsFromPEM(pem) {
				return http.Client{}, fmt.Errorf("openstack: cacert (OS_CACERT) %s: expected PEM certificates", cfg.CACert)
			}
			tc.RootCAs = pool
		}
		tr.TLSClientConfig = tc
	}
	timeout := cfg.Timeout
	if timeout == 0 {
		timeout = 60 * time.Second
	}
	return http.Client{Transport: countingTransport{tr, &bm.requests}, Timeout: timeout}, nil
}

// Requests returns how many HTTP requests the client has sent (the
// negotiation and authentication included).
func (bm *BareMetal) Requests() int64 { return bm.requests.Load() }

// Endpoint returns the root of the bare-metal API (http://host:6385/).
func (bm *BareMetal) Endpoint() string { return bm.sc.Endpoint }

// ServiceClient returns the gophercloud client, with the negotiated
// microversion, for calls this package does not wrap.
func (bm *BareMetal) ServiceClient() *gophercloud.ServiceClient { return bm.sc }

// version is a microversion major.minor.
type version struct{ major, minor int }

func parseVersion(s string) (version, error) {
	maj, min, ok := strings.Cut(strings.TrimSpace(s), ".")
	a, err1 := strconv.Atoi(maj)
	b, err2 := strconv.Atoi(min)
	if !ok || err1 != nil || err2 != nil || a < 0 || b < 0 {
		return version{}, fmt.Errorf("microversion %q: expected MAJOR.MINOR", s)
	}
	return version{a, b}, nil
}

func (v version) less(o version) bool {
	return v.major < o.major || (v.major == o.major && v.minor < o.minor)
}

func (v version) String() string { return strconv.Itoa(v.major) + "." + strconv.Itoa(v.minor) }

// rootDoc is the answer of GET / of the bare-metal API.
type rootDoc struct {
	DefaultVersion *struct {
		Version    string `json:"version"`
		MinVersion string `json:"min_version"`
	} `json:"default_version"`
}

// negotiate reads the server's microversion range and picks min(server
// maximum, LatestMicroversion).
func (bm *BareMetal) negotiate(ctx context.Context) error {
	var doc rootDoc
	_, err := bm.sc.Get(ctx, bm.sc.Endpoint, &doc, &gophercloud.RequestOpts{OkCodes: []int{200}, KeepResponseBody: false})
	if err != nil {
		return fmt.Errorf("openstack: bare-metal API at %s: %w", bm.sc.Endpoint, cleanErr(err))
	}
	known, _ := parseVersion(LatestMicroversion)
	if doc.DefaultVersion == nil || doc.DefaultVersion.Version == "" {
		// An API without microversions speaks 1.1.
		bm.version = version{1, 1}
	} else {
		max, err := parseVersion(doc.DefaultVersion.Version)
		if err != nil {
			return fmt.Errorf("openstack: bare-metal API at %s: maximum %w", bm.sc.Endpoint, err)
		}
		bm.version = known
		if max.less(known) {
			bm.version = max
		}
		if doc.DefaultVersion.MinVersion != "" {
			min, err := parseVersion(doc.DefaultVersion.MinVersion)
			if err != nil {
				return fmt.Errorf("openstack: bare-metal API at %s: minimum %w", bm.sc.Endpoint, err)
			}
			if known.less(min) {
				return fmt.Errorf("openstack: bare-metal API at %s needs microversion %s or newer; this client speaks up to %s", bm.sc.Endpoint, min, known)
			}
		}
	}
	bm.sc.Microversion = bm.version.String()
	return nil
}

// Microversion returns the negotiated microversion ("1.82").
func (bm *BareMetal) Microversion() string { return bm.version.String() }

// Supports reports whether the negotiated microversion offers f.
func (bm *BareMetal) Supports(f Feature) bool {
	v, ok := featureVersions[f]
	if !ok {
		return false
	}
	need, _ := parseVersion(v)
	return !bm.version.less(need)
}

// require fails with an error naming the feature and both versions when
// the server lacks f.
func (bm *BareMetal) require(f Feature) error {
	if bm.Supports(f) {
		return nil
	}
	return fmt.Errorf("openstack: %s needs bare-metal API %s; the server speaks %s: %w", f, featureVersions[f], bm.version, ErrUnsupported)
}

// ErrUnsupported matches an operation the server's microversion lacks.
var ErrUnsupported = errors.New("unsupported by the server's microversion")
