//! Personal data at rest: sealed with XChaCha20-Poly1305 under a key of the deployment's, findable through a keyed blind index.
//!
//! The member service seals phone and ID-card numbers with it, the grid service the details of
//! reporters and of the residents behind micro-wishes.

use base64::{Engine as _, engine::general_purpose::STANDARD_NO_PAD};
use chacha20poly1305::{
    XChaCha20Poly1305, XNonce,
    aead::{Aead as _, KeyInit as _},
};
use hmac::{Hmac, Mac as _};
use sha2::Sha256;

#[derive(Debug, thiserror::Error)]
pub enum VaultError {
    #[error("the personal-data key must be at least 32 bytes")]
    ShortKey,
    #[error("a sealed value does not open: the key changed or the data is damaged")]
    Unreadable,
}

/// Seals and indexes personal data. Both keys derive from one master key.
#[derive(Clone)]
pub struct PiiVault {
    cipher: XChaCha20Poly1305,
    index_key: Vec<u8>,
}

impl std::fmt::Debug for PiiVault {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("PiiVault")
    }
}

fn derive(master: &[u8], purpose: &str) -> Vec<u8> {
    let mut mac = <Hmac<Sha256> as hmac::KeyInit>::new_from_slice(master)
        .expect("HMAC takes keys of any length");
    mac.update(purpose.as_bytes());
    mac.finalize().into_bytes().to_vec()
}

impl PiiVault {
    pub fn new(master: &[u8]) -> Result<Self, VaultError> {
        if master.len() < 32 {
            return Err(VaultError::ShortKey);
        }
        let cipher = XChaCha20Poly1305::new_from_slice(&derive(master, "jiceng pii seal v1"))
            .map_err(|_| VaultError::ShortKey)?;
        Ok(Self {
            cipher,
            index_key: derive(master, "jiceng pii index v1"),
        })
    }

    /// A fingerprint of the key (hex), safe to store and to print: two vaults share it exactly
    /// when they seal and index alike, and it tells nothing of the key.
    pub fn fingerprint(&self) -> String {
        derive(&self.index_key, "jiceng pii key fingerprint v1")[..16]
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect()
    }

    /// `base64(nonce ‖ ciphertext)`, a fresh random nonce each time.
    pub fn seal(&self, plaintext: &str) -> String {
        let mut nonce = [0u8; 24];
        getrandom::fill(&mut nonce).expect("the operating system provides randomness");
        let sealed = self
            .cipher
            .encrypt(&XNonce::from(nonce), plaintext.as_bytes())
            .expect("sealing a short value cannot fail");
        let mut out = nonce.to_vec();
        out.extend(sealed);
        STANDARD_NO_PAD.encode(out)
    }

    pub fn open(&self, sealed: &str) -> Result<String, VaultError> {
        let bytes = STANDARD_NO_PAD
            .decode(sealed)
            .map_err(|_| VaultError::Unreadable)?;
        if bytes.len() < 24 {
            return Err(VaultError::Unreadable);
        }
        let (nonce, ciphertext) = bytes.split_at(24);
        let nonce: [u8; 24] = nonce.try_into().map_err(|_| VaultError::Unreadable)?;
        let plain = self
            .cipher
            .decrypt(&XNonce::from(nonce), ciphertext)
            .map_err(|_| VaultError::Unreadable)?;
        String::from_utf8(plain).map_err(|_| VaultError::Unreadable)
    }

    /// A keyed hash to look a value up by, equal for equal values, useless without the key.
    pub fn index(&self, value: &str) -> String {
        let mut mac = <Hmac<Sha256> as hmac::KeyInit>::new_from_slice(&self.index_key)
            .expect("HMAC takes keys of any length");
        mac.update(value.as_bytes());
        mac.finalize()
            .into_bytes()
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sealed_values_open_only_with_their_key() {
        let vault = PiiVault::new(&[7u8; 32]).expect("key");
        let sealed = vault.seal("13812345678");
        assert!(!sealed.contains("13812345678"));
        assert_ne!(sealed, vault.seal("13812345678"), "a fresh nonce each time");
        assert_eq!(vault.open(&sealed).expect("opens"), "13812345678");
        let other = PiiVault::new(&[8u8; 32]).expect("key");
        assert!(other.open(&sealed).is_err());
        assert!(PiiVault::new(&[1u8; 16]).is_err());
    }

    #[test]
    fn the_index_is_stable_and_keyed() {
        let vault = PiiVault::new(&[7u8; 32]).expect("key");
        assert_eq!(vault.index("x"), vault.index("x"));
        assert_ne!(
            vault.index("x"),
            PiiVault::new(&[8u8; 32]).expect("key").index("x")
        );
    }
}
