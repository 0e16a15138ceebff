// A small web server: the application the `build --go` benchmark builds with the Debian + Go builder.
package main

import (
	"encoding/json"
	"log"
	"net/http"
	"os"
	"time"
)

type status struct {
	Host string    `json:"host"`
	Time time.Time `json:"time"`
}

func main() {
	http.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		host, _ := os.Hostname()
		w.Header().Set("content-type", "application/json")
		_ = json.NewEncoder(w).Encode(status{Host: host, Time: time.Now().UTC()})
	})
	addr := ":8080"
	if p := os.Getenv("PORT"); p != "" {
		addr = ":" + p
	}
	log.Printf("listening on %s", addr)
	log.Fatal(http.ListenAndServe(addr, nil))
}
