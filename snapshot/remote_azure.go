//go:build !slim || azureblob

package snapshot

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"time"

	azruntime "github.com/Azure/azure-sdk-for-go/sdk/azcore/runtime"
	"github.com/Azure/azure-sdk-for-go/sdk/azidentity"
	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob"
	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob/container"
	"gocloud.dev/blob"
	"gocloud.dev/blob/azureblob"
)

// openAzure opens an azblob:// container as gocloud's URL opener does (the
// same environment: AZURE_STORAGE_ACCOUNT with AZURE_STORAGE_KEY, a SAS
// token, a connection string, else Azure's default credential chain; the
// same query parameters), with an HTTP client whose connections fail when
// idle (see idleTransport). gocloud's opener builds its client itself.
func openAzure(ctx context.Context, u *url.URL, idle time.Duration) (*blob.Bucket, error) {
	svc := azureblob.NewDefaultServiceURLOptions()
	if svc.SASToken != "" {
		// The token is part of the service URL: parameters must not send
		// it to another origin (gocloud's rule too).
		for _, p := range []string{"domain", "protocol", "cdn", "localemu", "storage_account"} {
			if u.Query().Has(p) {
				return nil, fmt.Errorf("azblob: a URL cannot change the service endpoint (%s=) when AZURE_STORAGE_SAS_TOKEN is set", p)
			}
		}
	}
	opener := &azureblob.URLOpener{ServiceURLOptions: *svc, MakeClient: azureClient(idle)}
	return opener.OpenBucketURL(ctx, u)
}

func azureClient(idle time.Duration) func(azureblob.ServiceURL, azureblob.ContainerName) (*container.Client, error) {
	return func(svcURL azureblob.ServiceURL, name azureblob.ContainerName) (*container.Client, error) {
		opts := &container.ClientOptions{}
		opts.Transport = &http.Client{Transport: idleTransport(idle)}
		opts.Retry.ShouldRetry = azureShouldRetry
		containerURL, err := url.JoinPath(string(svcURL), string(name))
		if err != nil {
			return nil, err
		}
		account, key := os.Getenv("AZURE_STORAGE_ACCOUNT"), os.Getenv("AZURE_STORAGE_KEY")
		conn := os.Getenv("AZURE_STORAGE_CONNECTION_STRING")
		if conn == "" {
			conn = os.Getenv("AZURE_STORAGEBLOB_CONNECTIONSTRING")
		}
		switch {
		case account != "" && key != "":
			cred, err := azblob.NewSharedKeyCredential(account, key)
			if err != nil {
				return nil, errors.New("AZURE_STORAGE_KEY is not a storage account key")
			}
			return container.NewClientWithSharedKeyCredential(containerURL, cred, opts)
		case os.Getenv("AZURE_STORAGE_SAS_TOKEN") != "":
			return container.NewClientWithNoCredential(containerURL, opts)
		case conn != "":
			return container.NewClientFromConnectionString(conn, string(name), opts)
		}
		cred, err := azidentity.NewDefaultAzureCredential(nil)
		if err != nil {
			return nil, fmt.Errorf("no Azure credentials found: set AZURE_STORAGE_ACCOUNT with AZURE_STORAGE_KEY, AZURE_STORAGE_SAS_TOKEN or AZURE_STORAGE_CONNECTION_STRING, or run where a managed identity is (%v)", err)
		}
		return container.NewClient(containerURL, cred, opts)
	}
}

// azureRetriedStatus is azcore's own list of statuses worth another try
// (policy.RetryOptions.StatusCodes' default), which a ShouldRetry replaces.
var azureRetriedStatus = []int{http.StatusRequestTimeout, http.StatusTooManyRequests, http.StatusInternalServerError,
	http.StatusBadGateway, http.StatusServiceUnavailable, http.StatusGatewayTimeout}

// azureShouldRetry is azcore's decision, except that a try ended by the
// idle bound is not made again (see stallsFail: a hung endpoint cost one
// --stall-timeout per try).
func azureShouldRetry(resp *http.Response, err error) bool {
	if err != nil {
		return !stalled(err)
	}
	return azruntime.HasStatusCode(resp, azureRetriedStatus...)
}
