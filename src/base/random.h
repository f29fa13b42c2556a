#pragma once
// Randomness is injected (STYLE 2.5). SecureRandom reads the kernel CSPRNG (getrandom(2));
// tests may substitute a seeded source.

#include <cstdint>
#include <string>

namespace qrpay {

class RandomSource {
public:
    virtual ~RandomSource() = default;
    // Fills `size` bytes at `out`. Thread-safe.
    virtual void fill(void* out, std::size_t size) = 0;

    std::uint64_t next_u64();
    // `digits` decimal digits, uniformly distributed (rejection sampling, no modulo bias).
    std::string decimal_digits(int digits);
    // `bytes` random bytes as lowercase hex.
    std::string hex(std::size_t bytes);
};

class SecureRandom final : public RandomSource {
public:
    void fill(void* out, std::size_t size) override;
};

}  // namespace qrpay
