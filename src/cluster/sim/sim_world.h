#pragma once
// SimWorld: simulated time and one queue of events for a seeded, single-threaded run of the
// cluster. Every event belongs to a node incarnation (or to the world): a crashed incarnation's
// events are dropped, a paused node's wait until it resumes, in their order. The same seed
// gives the same run, event for event.

#include <chrono>
#include <cstdint>
#include <functional>
#include <queue>
#include <random>
#include <vector>

namespace qrpay::cluster::sim {

using SimTime = std::chrono::steady_clock::time_point;
using std::chrono::milliseconds;

class SimWorld {
public:
    static constexpr int world = -1;  // events of no node

    SimWorld(std::uint64_t seed, int nodes);

    [[nodiscard]] SimTime now() const { return now_; }
    // Runs `task` after `delay`, as node `node`'s incarnation `incarnation` (world: always).
    void schedule(milliseconds delay,
                  int node,
                  std::uint64_t incarnation,
                  std::function<void()> task);
    // Runs the next event; false when none is left or `until` is reached.
    bool step(SimTime until);

    // Node lifecycle, as the fault schedule decides.
    [[nodiscard]] std::uint64_t incarnation(int node) const {
        return nodes_.at(static_cast<std::size_t>(node)).incarnation;
    }
    void crash(int node) { ++nodes_.at(static_cast<std::size_t>(node)).incarnation; }
    void pause(int node, milliseconds how_long) {
        nodes_.at(static_cast<std::size_t>(node)).paused_until =
            std::max(nodes_.at(static_cast<std::size_t>(node)).paused_until, now_ + how_long);
    }
    [[nodiscard]] bool paused(int node) const {
        return nodes_.at(static_cast<std::size_t>(node)).paused_until > now_;
    }

    std::mt19937_64& random() { return random_; }
    // Uniform in [low, high].
    std::int64_t uniform(std::int64_t low, std::int64_t high);
    bool chance(double probability);

private:
    struct Event {
        SimTime at;
        std::uint64_t order;  // ties run in the order scheduled
        int node;
        std::uint64_t incarnation;
        std::function<void()> task;
        bool operator>(const Event& other) const {
            return at != other.at ? at > other.at : order > other.order;
        }
    };
    struct Node {
        std::uint64_t incarnation = 1;
        SimTime paused_until{};
    };

    SimTime now_{};
    std::uint64_t scheduled_ = 0;
    std::priority_queue<Event, std::vector<Event>, std::greater<>> events_;
    std::vector<Node> nodes_;
    std::mt19937_64 random_;
};

}  // namespace qrpay::cluster::sim
