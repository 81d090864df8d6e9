//! Signature verification for the server: `ring`'s P-256 (assembly-optimised, about 5×
//! faster than the portable pure-Rust code on x86_64; see docs/BENCHMARKS.md). It accepts
//! exactly what `protocol` produces: SEC1 uncompressed keys, SHA-256, 64-byte `r ‖ s`
//! with a low `s` (ring, like plain ECDSA, would also accept the high-S twin `(r, n − s)`;
//! it is refused before ring sees it, as the portable verifier does).

use protocol::identity::{PublicKey, Signature};
use ring::signature::{ECDSA_P256_SHA256_FIXED, UnparsedPublicKey};
use room_core::inbound::Verifier;

/// ECDSA P-256 verification with `ring`.
#[derive(Debug, Clone, Copy, Default)]
pub struct RingVerifier;

impl Verifier for RingVerifier {
    fn verify(&self, key: &PublicKey, message: &[u8], signature: &Signature) -> bool {
        signature.is_low_s()
            && UnparsedPublicKey::new(&ECDSA_P256_SHA256_FIXED, key.to_sec1_uncompressed())
                .verify(message, &signature.0)
                .is_ok()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use protocol::identity::IdentityKey;
    use room_core::inbound::PortableVerifier;

    #[test]
    fn agrees_with_the_portable_verifier() {
        let key = IdentityKey::from_secret_bytes(&[9; 32]).unwrap();
        let other = IdentityKey::from_secret_bytes(&[10; 32]).unwrap();
        for i in 0..20u8 {
            let msg = vec![i; 100 + usize::from(i)];
            let sig = key.sign(&msg);
            assert!(RingVerifier.verify(&key.public_key(), &msg, &sig));
            assert!(PortableVerifier.verify(&key.public_key(), &msg, &sig));
            let mut bad = sig;
            bad.0[i as usize % 64] ^= 1;
            assert_eq!(
                RingVerifier.verify(&key.public_key(), &msg, &bad),
                PortableVerifier.verify(&key.public_key(), &msg, &bad)
            );
            assert!(!RingVerifier.verify(&other.public_key(), &msg, &sig));
        }
    }

    #[test]
    fn refuses_the_high_s_twin_of_a_valid_signature() {
        let key = IdentityKey::from_secret_bytes(&[11; 32]).unwrap();
        for i in 0..20u8 {
            let msg = vec![i; 64];
            let sig = key.sign(&msg);
            assert!(sig.is_low_s());
            let twin = sig.s_twin();
            // ring on its own accepts the twin: the check in front of it is what refuses it.
            assert!(
                UnparsedPublicKey::new(&ECDSA_P256_SHA256_FIXED, key.public_key().to_sec1_uncompressed())
                    .verify(&msg, &twin.0)
                    .is_ok()
            );
            assert!(!RingVerifier.verify(&key.public_key(), &msg, &twin));
            assert!(!PortableVerifier.verify(&key.public_key(), &msg, &twin));
            assert!(RingVerifier.verify(&key.public_key(), &msg, &sig));
        }
    }
}
