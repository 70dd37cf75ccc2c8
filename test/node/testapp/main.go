// Command testapp is the application of confighash's end-to-end tests and demo:
// it serves the configuration it runs with, so that a test can see what the
// running pod has, not only what the API server says.
//
//	GET /config  {"env": <$CONFIG_ENV>, "file": <contents of --file>, "pid": ..., "reloads": n}
//	GET /healthz 200 once serving
//
// The file is read at start and re-read only on a reload (as most programs do):
// on SIGHUP with --reload-on-signal, on POST /-/reload with --reload-endpoint.
//
// `testapp -probe URL` is its readiness probe, run inside the container (an exec
// probe): it asks the app over the pod's own loopback, never over the pod network.
package main

import (
	"encoding/json"
	"flag"
	"log"
	"net/http"
	"os"
	"os/signal"
	"sync"
	"syscall"
	"time"
)

type config struct {
	mu      sync.Mutex
	path    string
	file    string
	reloads int
}

func (c *config) load() {
	c.mu.Lock()
	defer c.mu.Unlock()
	data, err := os.ReadFile(c.path)
	if err != nil {
		log.Printf("read %s: %v", c.path, err)
		c.file = ""
		return
	}
	c.file = string(data)
}

func (c *config) reload() {
	c.load()
	c.mu.Lock()
	c.reloads++
	c.mu.Unlock()
	log.Printf("reloaded %s", c.path)
}

func probeExit(url string) int {
	client := http.Client{Timeout: 2 * time.Second}
	response, err := client.Get(url)
	if err != nil {
		return 1
	}
	_ = response.Body.Close()
	if response.StatusCode != http.StatusOK {
		return 1
	}
	return 0
}

func main() {
	listen := flag.String("listen", ":8080", "address to serve on")
	path := flag.String("file", "/etc/app/config", "configuration file to serve")
	onSignal := flag.Bool("reload-on-signal", false, "re-read the file on SIGHUP")
	endpoint := flag.Bool("reload-endpoint", false, "re-read the file on POST /-/reload")
	probe := flag.String("probe", "", "GET this URL and exit 0 if it answers 200 (an exec readiness probe)")
	flag.Parse()
	if *probe != "" {
		os.Exit(probeExit(*probe))
	}

	cfg := &config{path: *path}
	cfg.load()
	if *onSignal {
		hangups := make(chan os.Signal, 1)
		signal.Notify(hangups, syscall.SIGHUP)
		go func() {
			for range hangups {
				cfg.reload()
			}
		}()
	}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /config", func(w http.ResponseWriter, _ *http.Request) {
		cfg.mu.Lock()
		defer cfg.mu.Unlock()
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(map[string]any{
			"env": os.Getenv("CONFIG_ENV"), "file": cfg.file, "pid": os.Getpid(), "reloads": cfg.reloads,
		})
	})
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) { _, _ = w.Write([]byte("ok\n")) })
	if *endpoint {
		mux.HandleFunc("POST /-/reload", func(w http.ResponseWriter, _ *http.Request) {
			cfg.reload()
			_, _ = w.Write([]byte("reloaded\n"))
		})
	}
	// SIGTERM ends the process at once: pods then terminate quickly in tests.
	terms := make(chan os.Signal, 1)
	signal.Notify(terms, syscall.SIGTERM, syscall.SIGINT)
	go func() {
		<-terms
		os.Exit(0)
	}()
	log.Printf("serving on %s", *listen)
	log.Fatal(http.ListenAndServe(*listen, mux))
}
