#pragma once
// `qrpay serve`: the single-node payment service.

#include <chrono>
#include <cstdint>
#include <string>

#include "base/log.h"
#include "cli/projection_serve.h"

namespace qrpay::cli {

struct ServeConfig {
    std::string listen = "127.0.0.1:8080";
    std::string admin_listen = "127.0.0.1:8081";
    std::string data_dir = "./data";
    // Empty: the SQLite journal in data_dir. Else a postgresql:// URL (journal_open.h).
    std::string journal_url;
    std::chrono::milliseconds journal_connect_wait{std::chrono::minutes(5)};
    std::string agency_url;  // empty: the built-in simulated agency, in process
    std::string jwt_key;     // empty: <data_dir>/jwt.key, created on first start
    std::chrono::milliseconds code_ttl{std::chrono::minutes(5)};
    std::chrono::milliseconds pay_wait{std::chrono::seconds(5)};
    std::chrono::milliseconds agency_timeout{std::chrono::seconds(3)};
    std::chrono::milliseconds passivate_after{std::chrono::minutes(2)};
    std::uint32_t shard_count = 64;
    std::uint32_t executors = 0;     // 0: one per core
    std::uint32_t http_threads = 0;  // 0: one per core
    std::uint64_t snapshot_every = 100;
    std::size_t active_entities_max = 2'000'000;  // in memory before early passivation
    bool quickstart = false;                      // print tokens and curl commands once ready
    log::Level log_level = log::Level::info;
    std::string journal_fault;  // journal fault points (journal/fault_injection.h); tests only
    std::string agency_fault;   // agency fault points (agency/fault_injection.h); tests only
    // Codes one consumer may ask for (api/code_limiter.h).
    std::size_t codes_burst_max = 10;
    std::chrono::milliseconds code_refill_interval{2'000};
    std::size_t open_codes_max = 20;
    QueryConfig query;  // read model, projections and event streams (issue 5)

    // A cluster node (cluster/member.h) when `etcd` is set: it serves only the shards the
    // cluster gives it, and needs the PostgreSQL journal every node shares.
    std::string etcd;  // client URLs, comma-separated
    std::string node_id;
    std::string cluster_name = "default";
    std::chrono::milliseconds lease_ttl{std::chrono::seconds(2)};
    std::chrono::milliseconds cluster_leave_wait{std::chrono::seconds(10)};
    std::string internal_listen;  // required with etcd: where peers forward commands
    std::chrono::milliseconds shard_move_wait{std::chrono::seconds(2)};
    // On SIGTERM, how long a cluster node keeps serving with /readyz red before it hands its
    // shards over: time for a load balancer's health checks to take it out of rotation.
    std::chrono::milliseconds drain_wait{std::chrono::seconds(1)};

    // The API listener's connection budget (http::ServerOptions has the reasons for these).
    std::size_t http_connections_max = 1'024;
    std::size_t http_connections_per_address_max = 256;  // fits `qrpay bench load` (<= 128)
    std::chrono::milliseconds http_first_byte_timeout{std::chrono::seconds(5)};
    std::size_t sse_subscribers_per_subject_max = 8;  // event streams of one token subject
};

// Runs until SIGINT or SIGTERM. Returns the process exit code.
int run_serve(const ServeConfig& config);

}  // namespace qrpay::cli
