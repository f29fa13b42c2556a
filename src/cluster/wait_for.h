#pragma once
// Internal to cluster/: waits for the answer of an asynchronous call, for the commands that run
// once and exit (`qrpay cluster ...`) and for reads made before a node starts. Never on a thread
// the answer needs.

#include <future>
#include <utility>

#include "base/status.h"

namespace qrpay::cluster {

// `call` gets a callback taking a Result<T>; wait_for returns what it was called with.
template <class T, class Call>
Result<T> wait_for(Call call) {
    std::promise<Result<T>> answered;
    std::future<Result<T>> answer = answered.get_future();
    call([&answered](Result<T> result) { answered.set_value(std::move(result)); });
    return answer.get();
}

}  // namespace qrpay::cluster
