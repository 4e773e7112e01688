//! Test helpers: a seeded noise source and an analytic pinhole camera over the ground plane.
#![allow(dead_code)]

/// xorshift64* with Box–Muller normals: deterministic noise without a `rand` dependency.
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Rng {
        Rng(seed.max(1))
    }

    /// Uniform in [0, 1).
    pub fn uniform(&mut self) -> f64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        (self.0.wrapping_mul(0x2545_F491_4F6C_DD1D) >> 11) as f64 / (1u64 << 53) as f64
    }

    /// Standard normal.
    pub fn normal(&mut self) -> f64 {
        let u1 = self.uniform().max(1e-300);
        let u2 = self.uniform();
        (-2.0 * u1.ln()).sqrt() * (std::f64::consts::TAU * u2).cos()
    }
}

/// A pinhole camera `height` metres above the ground point `(cx, cy)`, looking along compass
/// heading `yaw` (0 = ground +Y, positive towards +X) and tilted `tilt` below the horizon.
/// Image `x` right, `y` down, principal point at the image centre, square pixels.
pub struct Pinhole {
    pub focal_px: f64,
    pub centre_px: [f64; 2],
    pub position: [f64; 3],
    right: [f64; 3],
    down: [f64; 3],
    forward: [f64; 3],
}

fn dot(a: [f64; 3], b: [f64; 3]) -> f64 {
    a[0] * b[0] + a[1] * b[1] + a[2] * b[2]
}

fn cross(a: [f64; 3], b: [f64; 3]) -> [f64; 3] {
    [a[1] * b[2] - a[2] * b[1], a[2] * b[0] - a[0] * b[2], a[0] * b[1] - a[1] * b[0]]
}

impl Pinhole {
    pub fn new(focal_px: f64, size_px: [f64; 2], ground: [f64; 2], height: f64, tilt_deg: f64, yaw_deg: f64) -> Pinhole {
        let (tilt, yaw) = (tilt_deg.to_radians(), yaw_deg.to_radians());
        let heading = [yaw.sin(), yaw.cos(), 0.0];
        let forward = [heading[0] * tilt.cos(), heading[1] * tilt.cos(), -tilt.sin()];
        let right = [yaw.cos(), -yaw.sin(), 0.0];
        let down = cross(forward, right);
        Pinhole {
            focal_px,
            centre_px: [size_px[0] / 2.0, size_px[1] / 2.0],
            position: [ground[0], ground[1], height],
            right,
            down,
            forward,
        }
    }

    /// The "standard" camera of these tests: 1920×1080, f = 1400 px, 8 m up, tilted 25°,
    /// yawed 8°, standing 5 m left of the road's centre line X = 0.
    pub fn roadside() -> Pinhole {
        Pinhole::new(1400.0, [1920.0, 1080.0], [-5.0, 0.0], 8.0, 25.0, 8.0)
    }

    /// Pixel of ground point `(x, y)`; `None` behind the camera.
    pub fn image_of(&self, x: f64, y: f64) -> Option<[f64; 2]> {
        let p = [x - self.position[0], y - self.position[1], -self.position[2]];
        let z = dot(p, self.forward);
        (z > 0.0).then(|| {
            [self.centre_px[0] + self.focal_px * dot(p, self.right) / z, self.centre_px[1] + self.focal_px * dot(p, self.down) / z]
        })
    }

    /// Ground point seen at pixel `(u, v)`; `None` at or above the horizon.
    pub fn ground_of(&self, u: f64, v: f64) -> Option<[f64; 2]> {
        let a = (u - self.centre_px[0]) / self.focal_px;
        let b = (v - self.centre_px[1]) / self.focal_px;
        let d: Vec<f64> = (0..3).map(|i| a * self.right[i] + b * self.down[i] + self.forward[i]).collect();
        (d[2] < 0.0).then(|| {
            let t = -self.position[2] / d[2];
            [self.position[0] + t * d[0], self.position[1] + t * d[1]]
        })
    }
}
