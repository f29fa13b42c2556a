#include "api/idempotency.h"

namespace qrpay::api {

void KeyClaims::Hold::release() {
    std::call_once(released_, [this] {
        std::lock_guard lock(held_->mutex);
        held_->keys.erase(key_id_);
    });
}

std::shared_ptr<KeyClaims::Hold> KeyClaims::try_hold(const std::string& key_id) {
    std::lock_guard lock(held_->mutex);
    if (!held_->keys.insert(key_id).second) {
        return nullptr;
    }
    return std::make_shared<Hold>(held_, key_id);
}

std::size_t KeyClaims::held() const {
    std::lock_guard lock(held_->mutex);
    return held_->keys.size();
}

}  // namespace qrpay::api
