// A well-behaved service for the submission tests: listens on $PORT, shows
// its environment at /env?name=X, and shuts down on SIGTERM. EXIT_CODE makes it
// exit at once; LISTEN_HOST binds it to one address.
package main

import (
	"context"
	"fmt"
	"log"
	"net/http"
	"os"
	"os/signal"
	"strconv"
	"syscall"
)

func main() {
	if code := os.Getenv("EXIT_CODE"); code != "" {
		log.Println("EXIT_CODE is set: exiting with code", code)
		n, _ := strconv.Atoi(code)
		os.Exit(n)
	}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /health", func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprint(w, `{"status":"ok"}`)
	})
	mux.HandleFunc("GET /env", func(w http.ResponseWriter, r *http.Request) {
		v, ok := os.LookupEnv(r.URL.Query().Get("name"))
		if !ok {
			http.Error(w, "unset", http.StatusNotFound)
			return
		}
		fmt.Fprint(w, v)
	})
	mux.HandleFunc("GET /pid", func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprint(w, os.Getpid())
	})
	// LISTEN_HOST (default: all interfaces) lets a test bind to loopback only.
	srv := &http.Server{Addr: os.Getenv("LISTEN_HOST") + ":" + os.Getenv("PORT"), Handler: mux}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM)
	defer stop()
	go func() {
		<-ctx.Done()
		log.Println("got SIGTERM, shutting down")
		srv.Shutdown(context.Background())
	}()
	log.Println("listening on :" + os.Getenv("PORT"))
	if err := srv.ListenAndServe(); err != http.ErrServerClosed {
		log.Fatal(err)
	}
	log.Println("bye")
}
