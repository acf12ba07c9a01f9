package netboxtest_test

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strings"

	"github.com/osism/go-osism/netbox/netboxtest"
)

// Start a NetBox with the sample fabric and list the switches OSISM manages, as the project's client
// does: a token, a tag filter, a paginated answer.
func Example() {
	s, err := netboxtest.Start(netboxtest.WithSampleFabric())
	if err != nil {
		fmt.Println(err)
		return
	}
	defer s.Close()

	req, _ := http.NewRequest(http.MethodGet, s.URL()+"/api/dcim/devices/?tag=managed-by-osism&brief=1", nil)
	req.Header.Set("Authorization", "Token "+s.Token())
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		fmt.Println(err)
		return
	}
	defer resp.Body.Close()
	var page struct {
		Count   int `json:"count"`
		Results []struct {
			Name string `json:"name"`
		} `json:"results"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&page); err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(page.Count)
	for _, d := range page.Results {
		fmt.Println(d.Name)
	}
	// Output:
	// 2
	// leaf-1
	// leaf-2
}

// Fault injection makes retries testable without sleeping: the next two requests fail, the third
// succeeds, and the counters show what the client sent.
func ExampleServer_FailNext() {
	s, err := netboxtest.Start()
	if err != nil {
		fmt.Println(err)
		return
	}
	defer s.Close()

	s.FailNext(2, http.StatusServiceUnavailable)
	for range 3 {
		req, _ := http.NewRequest(http.MethodGet, s.URL()+"/api/status/", nil)
		req.Header.Set("Authorization", "Bearer "+s.TokenV2())
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			fmt.Println(err)
			return
		}
		resp.Body.Close()
		fmt.Println(resp.StatusCode)
	}
	fmt.Println(s.Requests(http.MethodGet, "/api/status/"))
	// Output:
	// 503
	// 503
	// 200
	// 3
}

// A fixture in YAML; references are by name, and mistakes name the key and what was expected.
func ExampleLoadFixture() {
	_, err := netboxtest.LoadFixture([]byte(`
sites:
  - name: dc1
devices:
  - name: node-1
    site: dc1
    rol: compute
`))
	fmt.Println(strings.Split(err.Error(), " (")[0])
	// Output:
	// fixture: yaml: construct errors: line 7: unknown key "rol" in Device
}
