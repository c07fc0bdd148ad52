//! The unit tests' one deterministic generator: no dependency, the same data every run (a
//! 64-bit linear congruential generator with Knuth's MMIX constants).

/// The generator, seeded with its field.
pub(crate) struct Lcg(pub u64);

impl Lcg {
    fn step(&mut self) -> u64 {
        self.0 = self
            .0
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        self.0
    }

    /// Uniform in [0, 1).
    pub fn unit(&mut self) -> f64 {
        ((self.step() >> 11) as f64) / ((1u64 << 53) as f64)
    }

    /// About N(0, 1) (the sum of 12 uniforms).
    pub fn normal(&mut self) -> f64 {
        (0..12).map(|_| self.unit()).sum::<f64>() - 6.0
    }

    /// Uniform in 0..n.
    pub fn below(&mut self, n: u64) -> u64 {
        (self.step() >> 33) % n
    }
}
