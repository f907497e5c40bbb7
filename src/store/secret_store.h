// SecretStore: the contract for the workspace's secrets (Azure ML's workspace Key Vault, as
// `ws.get_default_keyvault()` and `run.get_secret` use it). The caller seals each value
// (common/seal.h) before it reaches the store and unseals it after: the store keeps and returns
// sealed text only and never sees a plaintext, so neither the database file nor a backup of it
// holds one.
//
// Thread-safety, errors and atomicity as MetadataStore's: any thread; NotFound names the
// secret; a failed call changes nothing.
#pragma once

#include <string>
#include <vector>

#include "common/status.h"

namespace ferry::store {

// Longest secret name (Azure Key Vault's limit).
inline constexpr size_t kMaxSecretNameLength = 127;

struct SecretRecord {
  std::string name;          // ValidateSecretName's rule
  std::string sealed_value;  // Sealer::Seal's output; empty in ListSecrets' answer
  std::string content_type;  // free text the user gave (Azure's KeyVaultContentType), not secret
  std::string updated_by;    // the user who set it last ("" for the workspace token)
  double created_at = 0;     // when the name was first set (kept when the value is replaced)
  double updated_at = 0;
};

// Azure Key Vault's rule: 1 to 127 characters, each an ASCII letter, digit or '-'.
// InvalidArgument names the name and the rule.
Status ValidateSecretName(const std::string& name);

class SecretStore {
 public:
  virtual ~SecretStore() = default;

  // Creates or replaces each secret, all or none (InvalidArgument for a bad name; a name given
  // twice: the last wins). A replaced secret keeps its created_at; the records' created_at is
  // used for new names.
  virtual Status PutSecrets(const std::vector<SecretRecord>& secrets) = 0;
  // NotFound names the secret.
  virtual Result<SecretRecord> GetSecret(const std::string& name) = 0;
  // Every secret by name, without its value (sealed_value empty).
  virtual Result<std::vector<SecretRecord>> ListSecrets() = 0;
  // NotFound names the secret.
  virtual Status DeleteSecret(const std::string& name) = 0;
};

}  // namespace ferry::store
