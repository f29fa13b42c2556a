#include "cluster/sim/sim_world.h"

#include <utility>

namespace qrpay::cluster::sim {

SimWorld::SimWorld(std::uint64_t seed, int nodes)
    : now_(SimTime() + std::chrono::hours(1)),
      nodes_(static_cast<std::size_t>(nodes)),
      random_(seed) {}

void SimWorld::schedule(milliseconds delay,
                        int node,
                        std::uint64_t incarnation,
                        std::function<void()> task) {
    events_.push({now_ + delay, ++scheduled_, node, incarnation, std::move(task)});
}

bool SimWorld::step(SimTime until) {
    while (!events_.empty() && events_.top().at <= until) {
        Event event = events_.top();
        events_.pop();
        now_ = std::max(now_, event.at);
        if (event.node != world) {
            const Node& node = nodes_.at(static_cast<std::size_t>(event.node));
            if (node.incarnation != event.incarnation) {
                continue;  // of a crashed incarnation
            }
            if (node.paused_until > now_) {
                event.at = node.paused_until;  // keeps its order among the node's events
                events_.push(std::move(event));
                continue;
            }
        }
        event.task();
        return true;
    }
    now_ = std::max(now_, until);
    return false;
}

std::int64_t SimWorld::uniform(std::int64_t low, std::int64_t high) {
    return std::uniform_int_distribution<std::int64_t>(low, high)(random_);
}

bool SimWorld::chance(double probability) {
    return std::bernoulli_distribution(probability)(random_);
}

}  // namespace qrpay::cluster::sim
